-- 062_idempotency_keys.sql: safe retries (app/idempotency.py).
--
-- One row per (org, actor, Idempotency-Key): the request it answered (a SHA-256
-- of method, path and body) and the response that was sent. It is written in
-- the same transaction as the request's own write, so a committed write always
-- has its key and a retry after a lost response gets the stored response.
-- Rows expire after ATLAS_IDEMPOTENCY_TTL_S; an org's expired rows are deleted
-- when it next records a key.

-- Concurrent requests with one key are serialized by a transaction advisory
-- lock on the key; 060_inflight.sql keeps advisory locks from every other role.
GRANT EXECUTE ON FUNCTION pg_catalog.pg_try_advisory_xact_lock(bigint) TO :"app_role";

SET LOCAL ROLE :"owner_role";

-- ===== Table =====
CREATE TABLE idempotency_keys (
    org_id              uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    actor_user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    idempotency_key     text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    request_fingerprint text NOT NULL,
    response_status     integer NOT NULL,
    response_headers    jsonb NOT NULL DEFAULT '{}',
    response_body       text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz NOT NULL,
    PRIMARY KEY (org_id, actor_user_id, idempotency_key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (org_id, expires_at);

-- ===== Privileges: the app reads, records and purges; a stored response is never changed =====
GRANT SELECT, INSERT, DELETE ON idempotency_keys TO :"app_role";

-- ===== Policies (as in 020_policies.sql) =====
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY "Idempotency keys are visible within the current org" ON idempotency_keys
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "Idempotency keys are created only in the current org" ON idempotency_keys
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Idempotency keys are updated only within the current org" ON idempotency_keys
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Idempotency keys are deleted only within the current org" ON idempotency_keys
    FOR DELETE USING (org_id = (SELECT app.current_org()));
