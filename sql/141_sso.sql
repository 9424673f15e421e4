-- 141_sso.sql: single sign-on over OpenID Connect, per org (app/sso/, docs/sso.md).
--
-- sso_providers: an org's identity provider (issuer, client id, the client
-- secret encrypted under ATLAS_CONNECTION_KEYS, the email domains it may assert
-- and whether they are verified). sso_flows: one sign-in in progress (state,
-- nonce and PKCE verifier, server-side, single use, minutes long).
--
-- Both are tenant tables: org_id leads the key and every policy is the org's.
-- Sign-in happens before any org is known, so one more setting names what a
-- sign-in looks for: app.sso_lookup, a provider id or an email domain. It
-- admits the one provider row with that provider id, or the providers whose
-- verified domains include that domain; nothing else, and never a flow (the
-- callback reads its flow in the provider's org, found first).
SET LOCAL ROLE :"owner_role";

CREATE FUNCTION app.sso_lookup() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
        SELECT CASE WHEN pg_catalog.current_setting('app.sso_lookup', true) OPERATOR(pg_catalog.=) ''
                    THEN NULL
                    ELSE pg_catalog.lower(pg_catalog.current_setting('app.sso_lookup', true)) END
    $$;
COMMENT ON FUNCTION app.sso_lookup() IS
    'A provider id or email domain an SSO sign-in is looking for (SET LOCAL app.sso_lookup), or NULL.';
GRANT EXECUTE ON FUNCTION app.sso_lookup() TO :"app_role";

CREATE TABLE sso_providers (
    org_id              uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id                  uuid NOT NULL DEFAULT gen_random_uuid(),
    provider_id         text NOT NULL CHECK (provider_id ~ '^[a-z0-9][a-z0-9-]{0,39}$'),
    issuer              text NOT NULL CHECK (length(issuer) BETWEEN 1 AND 500),  -- https://, checked by app/sso/oidc.py
    client_id           text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 500),
    client_secret       text NOT NULL,  -- a Fernet token (app/connections/crypto.py), never the secret
    scopes              text[] NOT NULL DEFAULT ARRAY['openid', 'email', 'profile'],
    domains             text[] NOT NULL CHECK (cardinality(domains) BETWEEN 1 AND 20),
    domain_verified     boolean NOT NULL DEFAULT false,
    verification_token  text NOT NULL CHECK (length(verification_token) BETWEEN 12 AND 64),
    role_claim          text,
    role_mapping        jsonb NOT NULL DEFAULT '{}'::jsonb,
    default_role        text NOT NULL DEFAULT 'member' CHECK (default_role IN ('member', 'admin')),
    sso_required        boolean NOT NULL DEFAULT false,
    created_by          uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, provider_id)
);
CREATE INDEX sso_providers_domains_idx ON sso_providers USING gin (domains) WHERE domain_verified;
-- A provider id routes a callback to one org. It is unique per org (keys of a distributed table hold
-- org_id); across orgs the first registered keeps it: registration refuses a taken id, and the lookup
-- (app/sso/providers.py find) answers the oldest row, so a later duplicate can never take a route over.
CREATE INDEX sso_providers_provider_id_idx ON sso_providers (provider_id, created_at);

CREATE TABLE sso_flows (
    org_id         uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id             uuid NOT NULL DEFAULT gen_random_uuid(),
    provider_id    text NOT NULL,
    state_hash     text NOT NULL CHECK (state_hash ~ '^[0-9a-f]{64}$'),
    binding_hash   text NOT NULL CHECK (binding_hash ~ '^[0-9a-f]{64}$'),
    nonce          text NOT NULL,
    code_verifier  text NOT NULL,
    callback_url   text,
    error_url      text,
    new_user_url   text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, state_hash),
    FOREIGN KEY (org_id, provider_id) REFERENCES sso_providers (org_id, provider_id)
        ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX sso_flows_expires_idx ON sso_flows (org_id, expires_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON sso_providers, sso_flows TO :"app_role";

ALTER TABLE sso_providers ENABLE ROW LEVEL SECURITY;
ALTER TABLE sso_providers FORCE ROW LEVEL SECURITY;
CREATE POLICY "SSO providers are visible in their org and to a sign-in looking for them" ON sso_providers
    FOR SELECT USING (org_id = (SELECT app.current_org())
                      OR provider_id = (SELECT app.sso_lookup())
                      OR (domain_verified AND domains @> ARRAY[(SELECT app.sso_lookup())]));
CREATE POLICY "SSO providers are registered only in the current org" ON sso_providers
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "SSO providers are updated only in the current org" ON sso_providers
    FOR UPDATE USING (org_id = (SELECT app.current_org())) WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "SSO providers are deleted only in the current org" ON sso_providers
    FOR DELETE USING (org_id = (SELECT app.current_org()));

ALTER TABLE sso_flows ENABLE ROW LEVEL SECURITY;
ALTER TABLE sso_flows FORCE ROW LEVEL SECURITY;
CREATE POLICY "SSO flows are visible only in the current org" ON sso_flows
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "SSO flows are started only in the current org" ON sso_flows
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "SSO flows are updated only in the current org" ON sso_flows
    FOR UPDATE USING (org_id = (SELECT app.current_org())) WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "SSO flows are consumed only in the current org" ON sso_flows
    FOR DELETE USING (org_id = (SELECT app.current_org()));

-- A sign-in by organization slug finds the org's id, and nothing of an org that is not named.
CREATE POLICY "Organizations are found by their slug for an SSO sign-in" ON organizations
    FOR SELECT USING (slug = (SELECT app.sso_lookup()));
