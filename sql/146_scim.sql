-- 146_scim.sql: SCIM 2.0 provisioning per org (app/scim): bearer tokens and provisioned users.
--
-- A SCIM token belongs to one org; only the SHA-256 of its secret is stored, and its
-- text names its org (scim_<org>_<secret>), so resolving it is an ordinary org-scoped
-- read under that org's policies, like an API key (080_api_keys.sql).
--
-- scim_users keeps what the identity provider sent for each user it provisioned in the
-- org (the SCIM resource as received, its userName and externalId, whether it is
-- active), per org: one person provisioned by two orgs has two rows, and neither org's
-- provider can read or change the other's. The person's global account (users) is
-- created when the email is new and never changed by SCIM; an active user is a member of
-- the org, and deactivating one removes the membership (the member-removal cascade).
-- Both tables are control-plane rows (shared database), like members.
SET LOCAL ROLE :"owner_role";

-- ===== Tables =====
CREATE TABLE scim_tokens (
    org_id       uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    name         text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    token_hash   text NOT NULL,
    start        text NOT NULL,  -- the first characters of the token, to recognise it in a list
    created_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, token_hash)
);

CREATE TABLE scim_users (
    org_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_name   text NOT NULL CHECK (length(user_name) BETWEEN 1 AND 500),
    external_id text CHECK (length(external_id) <= 500),
    active      boolean NOT NULL DEFAULT true,
    resource    jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(resource) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id)
);
CREATE UNIQUE INDEX scim_users_org_user_name_idx ON scim_users (org_id, lower(user_name));

-- ===== Privileges =====
GRANT SELECT, INSERT, UPDATE ON scim_tokens TO :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON scim_users TO :"app_role";

-- ===== Policies (as in 020_policies.sql) =====
ALTER TABLE scim_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE scim_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY "SCIM tokens are visible within the current org" ON scim_tokens
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "SCIM tokens are created only in the current org" ON scim_tokens
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "SCIM tokens are updated only within the current org" ON scim_tokens
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "SCIM tokens are deleted only within the current org" ON scim_tokens
    FOR DELETE USING (org_id = (SELECT app.current_org()));

ALTER TABLE scim_users ENABLE ROW LEVEL SECURITY;
ALTER TABLE scim_users FORCE ROW LEVEL SECURITY;
CREATE POLICY "SCIM users are visible within the current org" ON scim_users
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "SCIM users are created only in the current org" ON scim_users
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "SCIM users are updated only within the current org" ON scim_users
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "SCIM users are deleted only within the current org" ON scim_users
    FOR DELETE USING (org_id = (SELECT app.current_org()));
