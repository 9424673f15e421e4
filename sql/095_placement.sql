-- 095_placement.sql: where each org's tenant rows live (README "Dedicated databases").
--
-- An org is served from the shared database (no row here) or from a dedicated
-- database of its own (a row in org_placements of the shared, control
-- database). The same migrations run in every database, so a dedicated one has
-- these tables too; there they stay empty but for org_away.
--
-- Control tables stay in the shared database whatever the placement: users,
-- sessions, organizations, members, invitations, platform_audit, sign_in_throttle
-- and atlas_meta. Every other table with org_id is a placed table: its rows of a
-- dedicated org live in the org's database (app/placement/tables.py reads the list
-- from the catalog).
--
-- Runs as the migration runner's superuser until SET ROLE below: the owner needs
-- the bigint advisory-lock functions, revoked from PUBLIC in 060_inflight.sql.
GRANT EXECUTE ON FUNCTION pg_catalog.pg_try_advisory_xact_lock_shared(bigint) TO :"owner_role";

SET LOCAL ROLE :"owner_role";

-- ===== Placement (read in the shared database only) =====
-- location: a conninfo without user or password (host, port, dbname); each role
-- logs in there with its own credentials (README "Dedicated databases"). The
-- application reads an org's row inside a transaction scoped to that org.
CREATE TABLE org_placements (
    organization_id uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    location        text NOT NULL CHECK (length(location) BETWEEN 1 AND 1000),
    placed_at       timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON org_placements TO :"app_role";
ALTER TABLE org_placements ENABLE ROW LEVEL SECURITY;
ALTER TABLE org_placements FORCE ROW LEVEL SECURITY;
CREATE POLICY "Placements are visible within the current org" ON org_placements
    FOR SELECT USING (organization_id = (SELECT app.current_org()));

-- One unfinished move per org; `step` is the last step completed (app/placement/move.py).
CREATE TABLE atlas_meta.org_moves (
    organization_id uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    source          text,            -- NULL: the shared database
    target          text,            -- NULL: the shared database
    step            text NOT NULL,
    switched_at     timestamptz,
    started_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- ===== Away markers (kept in every database) =====
-- A row: this database does not take the org's writes, because the org lives
-- in another one. A worker whose placement cache is a second stale is refused
-- (503, retry) instead of writing where nobody will read.
CREATE TABLE atlas_meta.org_away (
    organization_id uuid PRIMARY KEY,
    since           timestamptz NOT NULL DEFAULT now()
);

-- The advisory-lock key of an org's write hold: 63 bits of the org id.
CREATE FUNCTION app.org_hold_key(p_org uuid) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog
    AS $$ SELECT ('x' || substr(replace(p_org::text, '-', ''), 1, 16))::bit(64)::bigint $$;

-- ===== The write hold, checked by every placed table =====
-- Writers take the org's hold key SHARED for their transaction, without waiting;
-- `atlas org move` takes it EXCLUSIVE on a session of its own for the final
-- catch-up and switch. So the mover first waits for the org's open writes to end,
-- then every new write of that org (and of no other) is refused, and a mover that
-- dies releases the hold with its connection.
--
-- Control-plane requests of a dedicated org (organizations, members, invitations)
-- run in the shared database, so the away marker lets through their audit rows
-- (entity organization, member or invitation) and their idempotency keys; the
-- write hold refuses them like any other write.
CREATE FUNCTION app.refuse_held_org() RETURNS trigger
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
        END IF;
        RAISE EXCEPTION 'organization % is served from another database; retry shortly', v_org
            USING ERRCODE = 'AT503';
    END IF;
    RETURN CASE WHEN TG_LEVEL = 'STATEMENT' THEN NULL WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

-- Attach the hold to one placed table (later migrations call it for new tenant tables;
-- tests/test_placement_schema.py fails for a placed table without it).
CREATE FUNCTION app.attach_org_hold(p_table regclass) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF p_table = 'public.audit_log'::regclass THEN
        EXECUTE format('CREATE TRIGGER org_hold BEFORE INSERT OR UPDATE OR DELETE ON %s'
                       ' FOR EACH ROW EXECUTE FUNCTION app.refuse_held_org()', p_table);
    ELSIF p_table = 'public.idempotency_keys'::regclass THEN
        EXECUTE format('CREATE TRIGGER org_hold BEFORE INSERT OR UPDATE OR DELETE ON %s'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION app.refuse_held_org(%L)', p_table, 'hold_only');
    ELSE
        EXECUTE format('CREATE TRIGGER org_hold BEFORE INSERT OR UPDATE OR DELETE ON %s'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION app.refuse_held_org()', p_table);
    END IF;
END
$$;

-- Every placed table there is now: the tables with org_id but the control tables.
DO $attach$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT c.oid::regclass AS tbl
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped
        WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public'
          AND c.relname NOT IN ('members', 'invitations')
        ORDER BY c.relname
    LOOP
        PERFORM app.attach_org_hold(r.tbl);
    END LOOP;
END
$attach$;
