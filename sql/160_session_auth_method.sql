-- 160_session_auth_method.sql: a session records how its user proved who they are (brief "harden" item 1).
--
-- 'password' (sign-up, password sign-in, password change) or 'sso:<org id>/<provider id>'
-- (an SSO sign-in at that org's provider; provider ids are unique per org only). A session
-- minted from another (set-active, create org, accept invitation) inherits it. An org that requires SSO admits only a session born of
-- one of its own providers (app/sso/gate.py); sessions from before this migration count
-- as password sessions, the safe side.
SET LOCAL ROLE :"owner_role";

ALTER TABLE sessions ADD COLUMN auth_method text NOT NULL DEFAULT 'password'
    CHECK (auth_method = 'password' OR auth_method ~ '^sso:[0-9a-f-]{36}/[a-z0-9][a-z0-9-]{0,39}$');
COMMENT ON COLUMN sessions.auth_method IS
    'How the session''s user signed in: password, or sso:<org id>/<provider id>; inherited by sessions minted from it.';
