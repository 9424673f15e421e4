-- 040_platform.sql: the one deliberate cross-org read path, for platform admins.
--
-- A separate login role, :"platform_role", used only by the platform-admin
-- endpoints (app/api/platform_admin.py). It is NOSUPERUSER and NOBYPASSRLS
-- like the others; what it may see beyond one org is granted by two SELECT
-- policies written TO it alone, and only inside a transaction that declared
-- itself a platform transaction (app.platform_scope = 'on'), which the door
-- opens only after checking, in the same transaction, that app.user_id is a
-- platform admin. The application role's policies are untouched: no bug in
-- an ordinary endpoint can widen to every org through this path.

-- ===== Role (superuser part) =====
DO $role$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'platform_role') THEN
        CREATE ROLE :"platform_role" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
END
$role$;
ALTER ROLE :"platform_role" NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;

ALTER TABLE atlas_meta.roles DROP CONSTRAINT roles_purpose_check;
ALTER TABLE atlas_meta.roles ADD CONSTRAINT roles_purpose_check
    CHECK (purpose IN ('owner', 'app', 'agent', 'platform'));
INSERT INTO atlas_meta.roles (purpose, role_name) VALUES ('platform', :'platform_role');
SELECT atlas_meta.apply_database_privileges();
GRANT USAGE ON SCHEMA public TO :"platform_role";
GRANT USAGE ON SCHEMA app TO :"platform_role";

SET LOCAL ROLE :"owner_role";

-- ===== Helper =====
CREATE FUNCTION app.platform_scope() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
        SELECT CASE WHEN pg_catalog.current_setting('app.platform_scope', true) OPERATOR(pg_catalog.=) 'on'
                    THEN true ELSE false END
    $$;
COMMENT ON FUNCTION app.platform_scope() IS
    'True only inside a platform-admin transaction (SET LOCAL app.platform_scope = on); false when unset.';

-- ===== Platform audit trail (global: a platform action may concern no single org) =====
CREATE TABLE platform_audit (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    actor_user_id uuid NOT NULL,
    action        text NOT NULL CHECK (length(action) BETWEEN 1 AND 100),
    target_org_id uuid,
    request_id    text,
    detail        jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX platform_audit_time_idx ON platform_audit (occurred_at DESC);
ALTER TABLE platform_audit ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform_audit FORCE ROW LEVEL SECURITY;
CREATE POLICY "Platform audit is read in platform transactions" ON platform_audit
    FOR SELECT TO :"platform_role" USING ((SELECT app.platform_scope()));
CREATE POLICY "Platform audit is written by the acting platform admin" ON platform_audit
    FOR INSERT TO :"platform_role"
    WITH CHECK ((SELECT app.platform_scope()) AND actor_user_id = (SELECT app.current_user_id()));

-- ===== Grants: read-only, and no password hashes =====
GRANT EXECUTE ON FUNCTION app.current_org(), app.current_user_id(), app.auth_email(),
                          app.session_token_hash(), app.platform_scope()
    TO :"platform_role";
GRANT SELECT ON organizations, members, invitations, conversations, audit_log TO :"platform_role";
GRANT SELECT (id, email, name, platform_role, created_at) ON users TO :"platform_role";
GRANT INSERT ON audit_log TO :"platform_role";  -- the target org learns it was looked at
GRANT SELECT, INSERT ON platform_audit TO :"platform_role";

-- ===== The cross-org reads =====
CREATE POLICY "Organizations are listed in platform transactions" ON organizations
    FOR SELECT TO :"platform_role" USING ((SELECT app.platform_scope()));
CREATE POLICY "Memberships are counted in platform transactions" ON members
    FOR SELECT TO :"platform_role" USING ((SELECT app.platform_scope()));
