-- 090_org_connections.sql: an org's own PostgreSQL datasources (the `connection` resource).
--
-- One row per (org, connection id). The id is the name agents and semantic
-- entities use (`connectionId`, `connection:` in entity YAML); "default" is
-- Atlas's own CRM data and is never stored. The password is kept only as a
-- Fernet token (app/connections/crypto.py, key from ATLAS_CONNECTION_KEYS):
-- the database never holds it in clear, and the API never returns it.
-- `version` is bumped by every change: it names the connection's pool and is
-- part of the query cache's key, so an edited connection never serves a result
-- or a connection made under its old settings.
SET LOCAL ROLE :"owner_role";

-- ===== Table =====
CREATE TABLE org_connections (
    org_id              uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id                  text NOT NULL CHECK (id ~ '^[a-z][a-z0-9_-]{0,39}$' AND id <> 'default'),
    description         text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    host                text NOT NULL CHECK (length(host) BETWEEN 1 AND 253),
    port                integer NOT NULL DEFAULT 5432 CHECK (port BETWEEN 1 AND 65535),
    dbname              text NOT NULL CHECK (length(dbname) BETWEEN 1 AND 63),
    username            text NOT NULL CHECK (length(username) BETWEEN 1 AND 63),
    password_ciphertext text NOT NULL DEFAULT '',
    options             jsonb NOT NULL DEFAULT '{}',
    version             integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    created_by          uuid,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, created_by) REFERENCES members (org_id, user_id) ON DELETE SET NULL (created_by)
);

-- ===== Privileges: the app manages an org's connections; the agent role never sees them =====
GRANT SELECT, INSERT, UPDATE, DELETE ON org_connections TO :"app_role";

-- ===== Policies (as in 020_policies.sql) =====
ALTER TABLE org_connections ENABLE ROW LEVEL SECURITY;
ALTER TABLE org_connections FORCE ROW LEVEL SECURITY;
CREATE POLICY "Org connections are visible within the current org" ON org_connections
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "Org connections are created only in the current org" ON org_connections
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Org connections are updated only within the current org" ON org_connections
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Org connections are deleted only within the current org" ON org_connections
    FOR DELETE USING (org_id = (SELECT app.current_org()));
