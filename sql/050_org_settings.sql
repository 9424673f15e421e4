-- 050_org_settings.sql: an org's own limits for agent SQL (the `settings` resource).
--
-- One row per org, absent until an admin first changes something. A NULL limit
-- means "the platform default"; the application validates values against the
-- platform bounds (app/query_settings.py QueryBounds) and clamps again when it
-- reads them, so lowering a bound later never lets an old value through.
-- `version` is bumped by every change and is part of the query cache's key:
-- a change retires every result cached under the old settings.
SET LOCAL ROLE :"owner_role";

-- ===== Table =====
CREATE TABLE org_settings (
    org_id                     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    query_row_limit            integer CHECK (query_row_limit >= 1),
    query_statement_timeout_ms integer CHECK (query_statement_timeout_ms >= 1),
    query_rate_per_minute      integer CHECK (query_rate_per_minute >= 1),
    version                    integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    updated_by                 uuid,
    PRIMARY KEY (org_id),
    FOREIGN KEY (org_id, updated_by) REFERENCES members (org_id, user_id) ON DELETE SET NULL (updated_by)
);

-- ===== Privileges: the app reads and upserts; nobody deletes (a reset is NULLs) =====
GRANT SELECT, INSERT, UPDATE ON org_settings TO :"app_role";

-- ===== Policies (as in 020_policies.sql) =====
ALTER TABLE org_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE org_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY "Org settings are visible within the current org" ON org_settings
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "Org settings are created only in the current org" ON org_settings
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Org settings are updated only within the current org" ON org_settings
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Org settings are deleted only within the current org" ON org_settings
    FOR DELETE USING (org_id = (SELECT app.current_org()));
