-- 150_mcp_oauth.sql: OAuth 2.1 for remote MCP clients (app/oauth/, docs/mcp-oauth.md).
--
-- A person signed in to Atlas consents, on /oauth/authorize, to let a client act
-- in the session's org; the code and the tokens it becomes belong to that org,
-- one user and one scope. Only SHA-256 hashes of codes and tokens are stored.
-- Their text names their org (mcp_at_<org>_<secret>, as API keys do), so every
-- lookup is an ordinary org-scoped read under app.org_id, with no policy beyond
-- the org's own. Clients register without an account (RFC 7591); their ids are
-- signed by the server, so no table holds them.
SET LOCAL ROLE :"owner_role";

-- ===== Tables =====
CREATE TABLE oauth_codes (
    org_id         uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id             uuid NOT NULL DEFAULT gen_random_uuid(),
    code_hash      text NOT NULL,
    client_id      text NOT NULL,
    client_name    text NOT NULL,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri   text NOT NULL,
    code_challenge text NOT NULL,
    resource       text NOT NULL,
    scope          text NOT NULL,
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, code_hash)
);

CREATE TABLE oauth_tokens (
    org_id             uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id                 uuid NOT NULL DEFAULT gen_random_uuid(),
    code_id            uuid NOT NULL,  -- the code it came from (a replayed code revokes its tokens)
    client_id          text NOT NULL,
    client_name        text NOT NULL,
    user_id            uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope              text NOT NULL,
    resource           text NOT NULL,
    access_hash        text NOT NULL,
    refresh_hash       text NOT NULL,
    access_expires_at  timestamptz NOT NULL,
    refresh_expires_at timestamptz NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    revoked_at         timestamptz,
    revoked_by         uuid REFERENCES users (id) ON DELETE SET NULL,
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, access_hash),
    UNIQUE (org_id, refresh_hash)
);
CREATE INDEX oauth_tokens_user_idx ON oauth_tokens (org_id, user_id, created_at DESC);

-- ===== Privileges: codes are used and tokens revoked, never deleted (the audit trail names them) =====
GRANT SELECT, INSERT, UPDATE ON oauth_codes, oauth_tokens TO :"app_role";

-- ===== Policies (as in 020_policies.sql) =====
ALTER TABLE oauth_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE oauth_codes FORCE ROW LEVEL SECURITY;
CREATE POLICY "OAuth codes are visible within the current org" ON oauth_codes
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "OAuth codes are created only in the current org" ON oauth_codes
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "OAuth codes are used only within the current org" ON oauth_codes
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "OAuth codes are deleted only within the current org" ON oauth_codes
    FOR DELETE USING (org_id = (SELECT app.current_org()));

ALTER TABLE oauth_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE oauth_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY "OAuth tokens are visible within the current org" ON oauth_tokens
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "OAuth tokens are issued only in the current org" ON oauth_tokens
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "OAuth tokens are revoked only within the current org" ON oauth_tokens
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "OAuth tokens are deleted only within the current org" ON oauth_tokens
    FOR DELETE USING (org_id = (SELECT app.current_org()));

-- ===== Resolution: the live access token, its user, and their role now =====
-- SECURITY INVOKER: RLS of the caller applies, so it sees only app.org_id's token.
-- The join with members is the rule that a removed member's tokens stop at once;
-- the role is the member's current one (a demotion applies to the next call).
CREATE FUNCTION app.oauth_token_identity(p_access_hash text)
RETURNS TABLE (token_id uuid, org_id uuid, role text, scope text, resource text, client_id text,
               expires_at timestamptz, created_at timestamptz, user_id uuid, email text, name text,
               platform_role text, email_verified boolean, user_created_at timestamptz,
               user_updated_at timestamptz)
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = pg_catalog, public
AS $$
    SELECT t.id, t.org_id, m.role, t.scope, t.resource, t.client_id, t.access_expires_at, t.created_at,
           u.id, u.email, u.name, u.platform_role, u.email_verified, u.created_at, u.updated_at
    FROM oauth_tokens t
    JOIN members m ON m.org_id = t.org_id AND m.user_id = t.user_id
    JOIN users u ON u.id = t.user_id
    WHERE t.org_id = app.current_org() AND t.access_hash = p_access_hash
      AND t.revoked_at IS NULL AND t.access_expires_at > now()
$$;
REVOKE ALL ON FUNCTION app.oauth_token_identity(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.oauth_token_identity(text) TO :"app_role";
