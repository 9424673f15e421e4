-- 096_session_by_user.sql: app.resolve_session reads the user and the membership as
-- that user, not as the token holder, and the token-holder policies of 063 go.
--
-- 064's resolver joined session, user and membership in one statement under
-- app.session_token_hash alone, which needed 063's two policies: users and members
-- visible to the holder of a live token, through a subquery on sessions. Every
-- statement on users or members then carried that subquery in its plan, and the
-- join cost about 100 us of planning-free execution per request (it initialises
-- every policy's subplan), most of a hot read's database time.
--
-- Now the resolver reads the live session by its token (020's sessions policy
-- admits its holder), clears the token, sets app.user_id to the session's user,
-- and reads that user and their membership in the session's org under 020's
-- policies alone ("users see themselves", "users see their own memberships").
-- The rows admitted are exactly those 063 admitted, so nothing a token holder
-- sees changes; app.org_id is still set only when the user is still a member of
-- the session's org, and a dead session still leaves both settings unset.
-- The two policies were read by this function alone (the session endpoints read
-- sessions, and password resets their own table, under 020 and 070).
SET LOCAL ROLE :"owner_role";

DROP POLICY "Users are visible to the holder of their live session token" ON users;
DROP POLICY "Members are visible in the current org and to the token holder" ON members;

CREATE OR REPLACE FUNCTION app.resolve_session(p_token_hash text)
RETURNS TABLE (session_id uuid, user_id uuid, active_org_id uuid, expires_at timestamptz,
               session_created_at timestamptz, user_agent text, ip_address text, id uuid, email text,
               name text, platform_role text, email_verified boolean, created_at timestamptz, updated_at timestamptz, role text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $$
DECLARE
    v_session uuid;
    v_user uuid;
    v_org uuid;
BEGIN
    IF p_token_hash IS NULL OR p_token_hash !~ '^[0-9a-f]{64}$' THEN
        RETURN;
    END IF;
    EXECUTE format('SET LOCAL app.session_token_hash = %L', p_token_hash);
    SELECT s.id, s.user_id, s.active_org_id, s.expires_at, s.created_at, s.user_agent, host(s.ip_address)
      INTO v_session, v_user, v_org, resolve_session.expires_at, resolve_session.session_created_at,
           resolve_session.user_agent, resolve_session.ip_address
      FROM public.sessions s
     WHERE s.token_hash = p_token_hash AND s.revoked_at IS NULL AND s.expires_at > now();
    SET LOCAL app.session_token_hash = '';
    IF v_session IS NULL THEN
        RETURN;
    END IF;
    EXECUTE format('SET LOCAL app.user_id = %L', v_user);
    SELECT u.id, u.email, u.name, u.platform_role, u.email_verified, u.created_at, u.updated_at, m.role
      INTO resolve_session.id, resolve_session.email, resolve_session.name, resolve_session.platform_role,
           resolve_session.email_verified, resolve_session.created_at, resolve_session.updated_at,
           resolve_session.role
      FROM public.users u
      LEFT JOIN public.members m ON m.user_id = u.id AND m.org_id = v_org
     WHERE u.id = v_user;
    IF NOT FOUND THEN  -- the user is gone: the transaction keeps no identity at all
        SET LOCAL app.user_id = '';
        RETURN;
    END IF;
    IF resolve_session.role IS NOT NULL THEN
        EXECUTE format('SET LOCAL app.org_id = %L', v_org);
    END IF;
    session_id := v_session;
    user_id := v_user;
    active_org_id := v_org;
    RETURN NEXT;
END
$$;
REVOKE ALL ON FUNCTION app.resolve_session(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.resolve_session(text) TO :"app_role";
