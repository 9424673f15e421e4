-- 145_teams.sql: teams inside an org (Better Auth's organization plugin with teams), the
-- session's active team, and conversations shared with one team.
--
-- Teams and their members are placed tables: they live where the org's data lives, so
-- the rule "a conversation of a team is read by that team's members" is one predicate
-- beside the conversation rows in whichever database holds them (app/teams/sharing.py).
-- A team member must be a member of the org (a foreign key to members, which dedicated
-- databases mirror): removing a member from the org removes them from every team.
-- sessions.active_team_id is Better Auth's activeTeamId: a preference of the session
-- (which team the client shows), never a grant; app.resolve_session returns it.
SET LOCAL ROLE :"owner_role";

-- ===== Tables =====
CREATE TABLE teams (
    org_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id         uuid NOT NULL DEFAULT gen_random_uuid(),
    name       text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    external_id text CHECK (length(external_id) <= 500),  -- a SCIM Group's externalId (app/scim)
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, name)
);

CREATE TABLE team_members (
    org_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id         uuid NOT NULL DEFAULT gen_random_uuid(),
    team_id    uuid NOT NULL,
    user_id    uuid NOT NULL,
    display    text CHECK (length(display) <= 500),  -- a SCIM Group member's display, as the provider sent it
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, team_id, user_id),
    FOREIGN KEY (org_id, team_id) REFERENCES teams (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, user_id) REFERENCES members (org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX team_members_org_user_idx ON team_members (org_id, user_id);

-- A conversation of a team: read by the team's members, its creator, and the org's owners and
-- admins; a conversation without a team is the whole org's, as before. No foreign key on
-- purpose: removing a team must not widen its conversations to the whole org (SET NULL
-- would), so they keep the removed team's id and only their creators and the org's owners
-- and admins read them. The application checks the team is the org's when sharing.
ALTER TABLE conversations ADD COLUMN team_id uuid;
CREATE INDEX conversations_org_team_idx ON conversations (org_id, team_id) WHERE team_id IS NOT NULL;

ALTER TABLE sessions ADD COLUMN active_team_id uuid;

-- ===== Privileges =====
GRANT SELECT, INSERT, UPDATE, DELETE ON teams, team_members TO :"app_role";

-- ===== Policies (as in 020_policies.sql) =====
ALTER TABLE teams ENABLE ROW LEVEL SECURITY;
ALTER TABLE teams FORCE ROW LEVEL SECURITY;
CREATE POLICY "Teams are visible within the current org" ON teams
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "Teams are created only in the current org" ON teams
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Teams are updated only within the current org" ON teams
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Teams are deleted only within the current org" ON teams
    FOR DELETE USING (org_id = (SELECT app.current_org()));

ALTER TABLE team_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE team_members FORCE ROW LEVEL SECURITY;
CREATE POLICY "Team members are visible within the current org" ON team_members
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "Team members are added only in the current org" ON team_members
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Team members are updated only within the current org" ON team_members
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Team members are removed only within the current org" ON team_members
    FOR DELETE USING (org_id = (SELECT app.current_org()));

-- Placed tables hold their org's writes during a move (sql/095_placement.sql).
SELECT app.attach_org_hold('teams');
SELECT app.attach_org_hold('team_members');

-- ===== The session resolver returns the active team too =====
DROP FUNCTION app.resolve_session(text);
CREATE FUNCTION app.resolve_session(p_token_hash text)
RETURNS TABLE (session_id uuid, user_id uuid, active_org_id uuid, expires_at timestamptz,
               session_created_at timestamptz, user_agent text, ip_address text, id uuid, email text,
               name text, platform_role text, email_verified boolean, created_at timestamptz, updated_at timestamptz,
               role text, permission jsonb, active_team_id uuid)
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
    SELECT s.id, s.user_id, s.active_org_id, s.expires_at, s.created_at, s.user_agent, host(s.ip_address),
           s.active_team_id
      INTO v_session, v_user, v_org, resolve_session.expires_at, resolve_session.session_created_at,
           resolve_session.user_agent, resolve_session.ip_address, resolve_session.active_team_id
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
        IF resolve_session.role NOT IN ('member', 'admin', 'owner') THEN
            -- a custom role: its cells, under the org's policy (a role deleted meanwhile grants nothing)
            SELECT r.permission INTO resolve_session.permission
              FROM public.org_roles r WHERE r.org_id = v_org AND r.name = resolve_session.role;
        END IF;
    END IF;
    session_id := v_session;
    user_id := v_user;
    active_org_id := v_org;
    RETURN NEXT;
END
$$;
REVOKE ALL ON FUNCTION app.resolve_session(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.resolve_session(text) TO :"app_role";
