"""The team endpoints (app/api/team_routes.py) and sharing a conversation with a team."""
from __future__ import annotations

from app.bodies import requests as r
from app.bodies import teams as t
from app.openapi.op import Op
from app.openapi.schemas import STAMP, UUID, obj, ref

TEAM = obj(("id", "name", "organizationId"), id=UUID, name={"type": "string"}, organizationId=UUID,
           createdAt=STAMP, updatedAt=STAMP)
TEAM_MEMBER = obj(("id", "teamId", "userId"), id=UUID, teamId=UUID, userId=UUID, createdAt=STAMP)
_TEAMS = {"type": "array", "items": TEAM}
_MESSAGE = obj(("message",), message={"type": "string"})

TEAM_OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", "/api/auth/organization/create-team"): Op(
        "Create a team in the session's org; audited", "team:create", "teams", t.CreateTeam, TEAM),
    ("GET", "/api/auth/organization/list-teams"): Op(
        "The session org's teams", "team:read", "teams", response=_TEAMS),
    ("POST", "/api/auth/organization/update-team"): Op(
        "Rename a team; audited", "team:update", "teams", t.UpdateTeam, TEAM),
    ("POST", "/api/auth/organization/remove-team"): Op(
        "Remove a team (its conversations narrow to their creators, owners and admins); audited", "team:delete",
        "teams", t.TeamRef, _MESSAGE),
    ("POST", "/api/auth/organization/set-active-team"): Op(
        "Set (or with null clear) the session's activeTeamId: one of the caller's teams", "member", "teams",
        t.SetActiveTeam, {**TEAM, "nullable": True}),
    ("GET", "/api/auth/organization/list-user-teams"): Op(
        "The caller's (or userId's, for member:update) teams in the session's org", "member", "teams",
        query=(("userId", UUID),), response=_TEAMS),
    ("GET", "/api/auth/organization/list-team-members"): Op(
        "A team's members (teamId, else the active team): to its members and to team managers", "member",
        "teams", query=(("teamId", UUID),), response={"type": "array", "items": TEAM_MEMBER}),
    ("POST", "/api/auth/organization/add-team-member"): Op(
        "Add a member of the org to a team; audited", "team:update", "teams", t.TeamMemberRef, TEAM_MEMBER),
    ("POST", "/api/auth/organization/remove-team-member"): Op(
        "Remove someone from a team; audited", "team:update", "teams", t.TeamMemberRef, _MESSAGE),
    ("POST", "/api/v1/conversations/{conversation_id}/team"): Op(
        "Share a conversation with one team of the org, or (null) the whole org: its creator, owners and admins;"
        " audited", "conversation:create", "conversations", r.ConversationTeam, ref("Conversation")),
}
