-- 064_resolve_session.sql: a request's credential resolved by one function, which also scopes
-- the rest of its transaction.
--
-- app.resolve_session(token_hash) is THE place a presented credential becomes an identity
-- (app/identity.py calls nothing else): the live session of the token, its user and their
-- role in the session's org, read under the token-keyed policies of 063_session_lookup.sql.
-- It then leaves its transaction scoped exactly as the door scopes one: app.org_id (only
-- when the user is still a member of the session's org) and app.user_id set, the token
-- hash cleared. So a hot read sends, in one round trip (app/wire.py),
--     BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY
--     SELECT * FROM app.resolve_session($1)   -- the session, checked ...
--     <the data read>                         -- ... in the same snapshot as the data
--     COMMIT
-- and a revoked, expired or removed session leaves app.org_id unset: RLS then admits no
-- tenant row at all, and the application answers 401/403 from the first result.
-- A second credential kind (an org API key) belongs here too, next to the session.
--
-- SET LOCAL (no set_config, which 001_roles.sql keeps from everyone): a function without
-- a SET clause for these names leaves its SET LOCAL in force until the transaction ends.
-- SECURITY INVOKER, executable by the application role only: the agent and platform
-- roles cannot call it, and it admits nothing a token holder could not already read.
-- No SET search_path clause (it would cost every call a GUC save and restore): the
-- tables are schema-qualified, and an invoker's function gains no privilege anyway.
SET LOCAL ROLE :"owner_role";

CREATE FUNCTION app.resolve_session(p_token_hash text)
RETURNS TABLE (session_id uuid, user_id uuid, active_org_id uuid, expires_at timestamptz,
               session_created_at timestamptz, user_agent text, ip_address text, id uuid, email text,
               name text, platform_role text, email_verified boolean, created_at timestamptz, updated_at timestamptz, role text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $$
#variable_conflict use_column
DECLARE
    r record;
BEGIN
    IF p_token_hash IS NULL OR p_token_hash !~ '^[0-9a-f]{64}$' THEN
        RETURN;
    END IF;
    EXECUTE format('SET LOCAL app.session_token_hash = %L', p_token_hash);
    SELECT s.id AS session_id, s.user_id, s.active_org_id, s.expires_at, s.created_at AS session_created_at,
           s.user_agent, host(s.ip_address) AS ip_address,
           u.id, u.email, u.name, u.platform_role, u.email_verified, u.created_at, u.updated_at, m.role
      INTO r
      FROM public.sessions s JOIN public.users u ON u.id = s.user_id
      LEFT JOIN public.members m ON m.user_id = s.user_id AND m.org_id = s.active_org_id
     WHERE s.token_hash = p_token_hash AND s.revoked_at IS NULL AND s.expires_at > now();
    SET LOCAL app.session_token_hash = '';
    IF r.session_id IS NULL THEN
        RETURN;
    END IF;
    EXECUTE format('SET LOCAL app.user_id = %L', r.user_id);
    IF r.role IS NOT NULL THEN
        EXECUTE format('SET LOCAL app.org_id = %L', r.active_org_id);
    END IF;
    RETURN QUERY SELECT r.session_id, r.user_id, r.active_org_id, r.expires_at, r.session_created_at,
                        r.user_agent, r.ip_address,
                        r.id, r.email, r.name, r.platform_role, r.email_verified, r.created_at,
                        r.updated_at, r.role;
END
$$;
REVOKE ALL ON FUNCTION app.resolve_session(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.resolve_session(text) TO :"app_role";
