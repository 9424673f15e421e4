-- 080_api_keys.sql: org-scoped API keys, credentials for machines (app/api_keys.py).
--
-- A key belongs to one org and carries one role of the matrix, never above its
-- creator's. Only the SHA-256 of its secret is stored. The key's text names its
-- org (atlas_<org>_<secret>), so resolving it is an ordinary org-scoped read:
-- under app.org_id = that org, app.api_key_identity() finds the live key, its
-- creator and the creator's membership, with no policy beyond the org's own.
-- Nothing is cached: a revoked or expired key, or a creator who left the org,
-- resolves to no row on the very next request.
SET LOCAL ROLE :"owner_role";

-- ===== Table =====
CREATE TABLE api_keys (
    org_id       uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    name         text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    role         text NOT NULL CHECK (role IN ('member', 'admin', 'owner')),
    token_hash   text NOT NULL,
    start        text NOT NULL,  -- the first characters of the key, to recognise it in a list
    created_by   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    revoked_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    last_used_at timestamptz,
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, token_hash)
);

-- Audit entries written with a key name it (the actor is the key's creator).
ALTER TABLE audit_log ADD COLUMN api_key_id uuid;

-- ===== Privileges: keys are revoked, never deleted (the audit trail names them) =====
GRANT SELECT, INSERT, UPDATE ON api_keys TO :"app_role";

-- ===== Policies (as in 020_policies.sql) =====
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY "API keys are visible within the current org" ON api_keys
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "API keys are created only in the current org" ON api_keys
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "API keys are updated only within the current org" ON api_keys
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "API keys are deleted only within the current org" ON api_keys
    FOR DELETE USING (org_id = (SELECT app.current_org()));

-- ===== Resolution: the live key, its creator, and the role it acts with =====
-- SECURITY INVOKER: RLS of the caller applies, so it sees only app.org_id's key.
-- The role is the lower of the key's and its creator's current role: demoting
-- the creator demotes their keys; removing the creator stops them.
CREATE FUNCTION app.api_key_identity(p_token_hash text)
RETURNS TABLE (api_key_id uuid, org_id uuid, role text, expires_at timestamptz, created_at timestamptz,
               last_used_at timestamptz, user_id uuid, email text, name text, platform_role text,
               email_verified boolean, user_created_at timestamptz, user_updated_at timestamptz)
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = pg_catalog, public
AS $$
    SELECT k.id, k.org_id,
           CASE WHEN array_position(ARRAY['member', 'admin', 'owner'], k.role)
                     <= array_position(ARRAY['member', 'admin', 'owner'], m.role) THEN k.role ELSE m.role END,
           k.expires_at, k.created_at, k.last_used_at,
           u.id, u.email, u.name, u.platform_role, u.email_verified, u.created_at, u.updated_at
    FROM api_keys k
    JOIN members m ON m.org_id = k.org_id AND m.user_id = k.created_by
    JOIN users u ON u.id = k.created_by
    WHERE k.org_id = app.current_org() AND k.token_hash = p_token_hash
      AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
$$;
REVOKE ALL ON FUNCTION app.api_key_identity(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.api_key_identity(text) TO :"app_role";
