-- 063_session_lookup.sql: a request's session, user and role in one statement.
--
-- Every request resolves its token afresh (no in-process cache, so sign-out,
-- an org switch, a role change or a removal binds every worker at once), in
-- one round trip: under SET LOCAL app.session_token_hash alone, one SELECT
-- joins the live session to its user and to their membership in the
-- session's org (app/identity.py). The policies of 020_policies.sql admit the
-- session by its token but its user and memberships only by app.user_id,
-- which is not known before the session is read; these two admit them to the
-- holder of the live token as well. They are written for the application
-- role alone (the platform and agent roles may not read sessions), and admit
-- exactly the rows that app.user_id = the session's user already admits:
-- nothing a token holder could not read after resolving their own session.
SET LOCAL ROLE :"owner_role";

CREATE POLICY "Users are visible to the holder of their live session token" ON users
    FOR SELECT TO :"app_role"
    USING (id IN (SELECT s.user_id FROM sessions s
                  WHERE s.token_hash = (SELECT app.session_token_hash())
                    AND s.revoked_at IS NULL AND s.expires_at > now()));

CREATE POLICY "Members are visible in the current org and to the token holder" ON members
    FOR SELECT TO :"app_role"
    USING (org_id = (SELECT app.current_org())
           OR user_id IN (SELECT s.user_id FROM sessions s
                          WHERE s.token_hash = (SELECT app.session_token_hash())
                            AND s.revoked_at IS NULL AND s.expires_at > now()));
