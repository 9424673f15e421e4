-- 001_roles.sql: who may do what, before any table exists.
--
-- Runs as a superuser (the migration runner's connection). Role names are
-- psql-style variables that the runner fills in as quoted identifiers:
--   :"owner_role"  owns every object; never used by the application.
--   :"app_role"    the application's login; NOSUPERUSER, NOBYPASSRLS, owns nothing.
--   :"agent_role"  runs agent SQL from the gateway; SELECT on CRM tables only.
-- Names carry a per-database prefix (see app/config.py), so two databases in
-- one cluster, or two parallel test runs, never share or clash on a role.

-- ===== Roles (idempotent: a re-created database keeps its cluster roles) =====
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner_role') THEN
        CREATE ROLE :"owner_role" NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_role') THEN
        CREATE ROLE :"app_role" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'agent_role') THEN
        CREATE ROLE :"agent_role" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
END
$roles$;

-- Enforce the attributes even on roles that already existed.
ALTER ROLE :"owner_role" NOLOGIN NOSUPERUSER NOBYPASSRLS;
ALTER ROLE :"app_role" NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
ALTER ROLE :"agent_role" NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;

-- ===== Bookkeeping the policy audit reads =====
CREATE SCHEMA IF NOT EXISTS atlas_meta;
ALTER SCHEMA atlas_meta OWNER TO :"owner_role";
REVOKE ALL ON SCHEMA atlas_meta FROM PUBLIC;

CREATE TABLE atlas_meta.roles (
    purpose   text PRIMARY KEY CHECK (purpose IN ('owner', 'app', 'agent')),
    role_name name NOT NULL UNIQUE
);
ALTER TABLE atlas_meta.roles OWNER TO :"owner_role";
INSERT INTO atlas_meta.roles (purpose, role_name) VALUES
    ('owner', :'owner_role'),
    ('app', :'app_role'),
    ('agent', :'agent_role');

-- ===== Database-level privileges =====
-- Only our roles may connect; nobody may create temporary objects (a temp
-- table or function could shadow ours through search_path). Kept in a function
-- because CREATE DATABASE ... TEMPLATE does not copy database ACLs: whoever
-- clones a migrated database (the test suite does) calls it again.
CREATE FUNCTION atlas_meta.apply_database_privileges() RETURNS void
    LANGUAGE plpgsql SECURITY INVOKER
    SET search_path = pg_catalog
    AS $fn$
DECLARE
    r record;
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    FOR r IN SELECT purpose, role_name FROM atlas_meta.roles LOOP
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), r.role_name);
        IF r.purpose = 'owner' THEN
            EXECUTE format('GRANT CREATE ON DATABASE %I TO %I', current_database(), r.role_name);
        END IF;
    END LOOP;
END
$fn$;
REVOKE EXECUTE ON FUNCTION atlas_meta.apply_database_privileges() FROM PUBLIC;
SELECT atlas_meta.apply_database_privileges();

REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO :"owner_role";
GRANT USAGE ON SCHEMA public TO :"app_role", :"agent_role";

-- ===== Nobody but the owner forges the org from inside a query =====
-- set_config() and UPDATE pg_settings are how a single SELECT could change
-- app.org_id mid-transaction. The application sets the org with SET LOCAL,
-- which needs neither.
REVOKE EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) FROM PUBLIC;
REVOKE UPDATE ON pg_catalog.pg_settings FROM PUBLIC;

-- Functions created by the owner are not executable by PUBLIC unless granted.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
