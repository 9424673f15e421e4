-- 104_member_removal_away.sql: removing a member of an org in a dedicated database works.
--
-- Tenant tables refer to members (org_id, user_id) with ON DELETE SET NULL. Members are
-- control-plane rows, changed in the shared database; for an org placed elsewhere the
-- referential action's UPDATE of the org's (moved-out) tenant tables there fired the
-- write hold's away check (095), so remove-member and leave answered 503 for good.
-- An away database holds none of the org's rows once a move is cleaned up (and only a
-- copy nobody reads before that), so a statement that a referential action or another
-- trigger runs there (pg_trigger_depth() > 1) is let through; the write hold itself still
-- refuses every write of a moving org, and the dedicated database's own referential
-- actions run when its members mirror follows (app/placement/mirror.py).
SET LOCAL ROLE :"owner_role";

CREATE OR REPLACE FUNCTION app.refuse_held_org() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_org uuid := app.current_org();
    v_entity text;
BEGIN
    IF v_org IS NULL THEN  -- not the app's door (migrations, the mover): no org to hold
        RETURN CASE WHEN TG_LEVEL = 'STATEMENT' THEN NULL WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF NOT pg_catalog.pg_try_advisory_xact_lock_shared(app.org_hold_key(v_org)) THEN
        RAISE EXCEPTION 'organization % is moving to another database; retry shortly', v_org
            USING ERRCODE = 'AT503';
    END IF;
    IF TG_NARGS > 0 AND TG_ARGV[0] = 'hold_only' THEN
        RETURN CASE WHEN TG_LEVEL = 'STATEMENT' THEN NULL WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF EXISTS (SELECT 1 FROM atlas_meta.org_away WHERE organization_id = v_org) THEN
        IF TG_LEVEL = 'ROW' THEN
            v_entity := CASE WHEN TG_OP = 'DELETE' THEN OLD.entity ELSE NEW.entity END;
            IF v_entity IN ('organization', 'member', 'invitation') THEN
                RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
            END IF;
        ELSIF pg_catalog.pg_trigger_depth() > 1 THEN
            -- a control-plane change's referential action (members ON DELETE SET NULL)
            RETURN NULL;
        END IF;
        RAISE EXCEPTION 'organization % is served from another database; retry shortly', v_org
            USING ERRCODE = 'AT503';
    END IF;
    RETURN CASE WHEN TG_LEVEL = 'STATEMENT' THEN NULL WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
