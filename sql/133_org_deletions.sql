-- 133_org_deletions.sql: `atlas org delete` marks an org, `atlas org purge` erases it after the grace period.
--
-- A marked org is out of reach at once: its memberships and pending invitations are
-- moved here (as JSON rows, so this table holds no org_id column and is no tenant
-- table), so no session and no API key resolves to the org any longer
-- (app.resolve_session sets app.org_id only for a member; a key works only while its
-- creator is a member), and nothing else of the org changes: `atlas org delete ORG
-- --cancel` puts them back. After purge_after, `atlas org purge` deletes every row of
-- the org (app/orgdata/deletion.py); the erasure is recorded in platform_audit.
-- Only the operator's commands (the shared database's admin) read or write it.
SET LOCAL ROLE :"owner_role";

CREATE TABLE atlas_meta.org_deletions (
    organization_id uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    purge_after     timestamptz NOT NULL,
    requested_by    text NOT NULL CHECK (length(requested_by) BETWEEN 1 AND 200),
    members         jsonb NOT NULL DEFAULT '[]'::jsonb,
    invitations     jsonb NOT NULL DEFAULT '[]'::jsonb,
    CHECK (purge_after >= requested_at)
);
COMMENT ON TABLE atlas_meta.org_deletions IS
    'Orgs marked for deletion: their members and pending invitations, set aside until cancel or purge.';
