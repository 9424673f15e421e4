-- 144_custom_roles.sql: custom roles per org (Better Auth's dynamic access control), checked
-- where the three built-in roles are.
--
-- A custom role is a named set of (resource, action) cells of the matrix in
-- app/permissions.py, stored as Better Auth stores it: {"resource": ["action", ...]}.
-- A member holds a built-in role or one of their org's custom roles by name
-- (members.role); the name is free text now, and app.resolve_session returns the
-- role's cells with the session, read in the same statement's transaction after
-- app.org_id is set (under the org's own policy), so a role change or a role edit
-- binds on the next request of every worker, as member role changes always have.
-- Custom roles are control-plane rows (shared database), like members: the session
-- is resolved there.
SET LOCAL ROLE :"owner_role";

-- ===== Table =====
CREATE TABLE org_roles (
    org_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id         uuid NOT NULL DEFAULT gen_random_uuid(),
    name       text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$' AND name NOT IN ('member', 'admin', 'owner')),
    permission jsonb NOT NULL CHECK (jsonb_typeof(permission) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, name)
);

-- A member's role: a built-in one or the name of one of the org's custom roles (the
-- application refuses a name that is neither; deleting a role in use is refused).
ALTER TABLE members DROP CONSTRAINT members_role_check;
ALTER TABLE members ADD CONSTRAINT members_role_check CHECK (role ~ '^[a-z][a-z0-9_-]{0,62}$');

-- ===== Privileges =====
GRANT SELECT, INSERT, UPDATE, DELETE ON org_roles TO :"app_role";

-- ===== Policies (as in 020_policies.sql) =====
ALTER TABLE org_roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE org_roles FORCE ROW LEVEL SECURITY;
CREATE POLICY "Custom roles are visible within the current org" ON org_roles
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "Custom roles are created only in the current org" ON org_roles
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Custom roles are updated only within the current org" ON org_roles
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Custom roles are deleted only within the current org" ON org_roles
    FOR DELETE USING (org_id = (SELECT app.current_org()));

-- ===== The session resolver returns the custom role's cells =====
-- Same body as 096 but for the last lookup; the result gains a column, so the
-- function is dropped and created (CREATE OR REPLACE cannot change its row type).
DROP FUNCTION app.resolve_session(text);
CREATE FUNCTION app.resolve_session(p_token_hash text)
RETURNS TABLE (session_id uuid, user_id uuid, active_org_id uuid, expires_at timestamptz,
               session_created_at timestamptz, user_agent text, ip_address text, id uuid, email text,
               name text, platform_role text, email_verified boolean, created_at timestamptz, updated_at timestamptz,
               role text, permission jsonb)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $$
DECLARE
    v_session uuid;
    v_user uuid;
    v_org uuid;
BEGIN
    IF p_token_hash IS NULL OR p_token_hash !~ '^[0-9a-f]{64}$' THEN
        RETURN;
    END IF;
    EXECUTE format('SET LOCAL app.session_token_hash = %L', p_token_hash);
    SELECT s.id, s.user_id, s.active_org_id, s.expires_at, s.created_at, s.user_agent, host(s.ip_address)
      INTO v_session, v_user, v_org, resolve_session.expires_at, resolve_session.session_created_at,
           resolve_session.user_agent, resolve_session.ip_address
      FROM public.sessions s
     WHERE s.token_hash = p_token_hash AND s.revoked_at IS NULL AND s.expires_at > now();
    SET LOCAL app.session_token_hash = '';
    IF v_session IS NULL THEN
        RETURN;
    END IF;
    EXECUTE format('SET LOCAL app.user_id = %L', v_user);
    SELECT u.id, u.email, u.name, u.platform_role, u.email_verified, u.created_at, u.updated_at, m.role
      INTO resolve_session.id, resolve_session.email, resolve_session.name, resolve_session.platform_role,
           resolve_session.email_verified, resolve_session.created_at, resolve_session.updated_at,
           resolve_session.role
      FROM public.users u
      LEFT JOIN public.members m ON m.user_id = u.id AND m.org_id = v_org
     WHERE u.id = v_user;
    IF NOT FOUND THEN  -- the user is gone: the transaction keeps no identity at all
        SET LOCAL app.user_id = '';
        RETURN;
    END IF;
    IF resolve_session.role IS NOT NULL THEN
        EXECUTE format('SET LOCAL app.org_id = %L', v_org);
        IF resolve_session.role NOT IN ('member', 'admin', 'owner') THEN
            -- a custom role: its cells, under the org's policy (a role deleted meanwhile grants nothing)
            SELECT r.permission INTO resolve_session.permission
              FROM public.org_roles r WHERE r.org_id = v_org AND r.name = resolve_session.role;
        END IF;
    END IF;
    session_id := v_session;
    user_id := v_user;
    active_org_id := v_org;
    RETURN NEXT;
END
$$;
REVOKE ALL ON FUNCTION app.resolve_session(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.resolve_session(text) TO :"app_role";
