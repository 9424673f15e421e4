-- 070_password_resets.sql: password-reset links (POST /api/auth/request-password-reset, /reset-password).
--
-- Like sessions, only the sha256 of a reset token is stored: a copy of the
-- table resets nothing. A reset is created for the account named by
-- app.auth_email (the email the request gave), and found again only by the
-- holder of its token: the door's app.session_token_hash setting carries the
-- presented token's hash, as it does for sessions (a session token's hash
-- never names a reset row, nor a reset token's hash a session: both are 256
-- random bits). Used or expired rows admit nothing; the user can delete theirs.
SET LOCAL ROLE :"owner_role";

CREATE TABLE password_resets (
    token_hash text PRIMARY KEY CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_resets_user_id_idx ON password_resets (user_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON password_resets TO :"app_role";

ALTER TABLE password_resets ENABLE ROW LEVEL SECURITY;
ALTER TABLE password_resets FORCE ROW LEVEL SECURITY;
CREATE POLICY "Password resets are visible to the holder of their token" ON password_resets
    FOR SELECT TO :"app_role" USING (token_hash = (SELECT app.session_token_hash()));
CREATE POLICY "Password resets are created for the account named by the request" ON password_resets
    FOR INSERT TO :"app_role"
    WITH CHECK (user_id IN (SELECT u.id FROM users u WHERE u.email = (SELECT app.auth_email())));
CREATE POLICY "Password resets are used by the holder of their token" ON password_resets
    FOR UPDATE TO :"app_role" USING (token_hash = (SELECT app.session_token_hash()))
    WITH CHECK (token_hash = (SELECT app.session_token_hash()));
CREATE POLICY "Password resets are deleted by their user" ON password_resets
    FOR DELETE TO :"app_role" USING (user_id = (SELECT app.current_user_id()));
