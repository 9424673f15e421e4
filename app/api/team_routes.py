"""Teams: Better Auth's organization plugin team endpoints, and the session's active team.

Who may: the `team` cells of the matrix (members list teams; admins and owners
create, rename and remove them and manage their members); a team's members are
listed to its own members and to whoever may manage teams. activeTeamId is a
preference of the session (which team a client shows): it grants nothing, and
conversations shared with a team are read by the team's members whatever their
active team (app/teams/sharing.py). Every change is audited.
"""
from __future__ import annotations

import uuid

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue

from app.api import get_db, session_scope
from app.api.members import as_uuid
from app.api.spec.schemas import STAMP, UUID, obj
from app.bodies.teams import CreateTeam, SetActiveTeam, TeamMemberRef, TeamRef, UpdateTeam
from app.endpoint import endpoint
from app.errors.better_auth import (
    NoActiveTeamError,
    NotAllowedToAddTeamMemberError,
    NotAllowedToCreateTeamsError,
    NotAllowedToDeleteTeamsError,
    NotAllowedToRemoveTeamMemberError,
    NotAllowedToUpdateMemberError,
    NotAllowedToUpdateTeamError,
    NotInTeamError,
    NotInTeamForbiddenError,
    TeamNotFoundError,
    UserNotMemberError,
)
from app.permissions import MEMBER, allows, permission
from app.teams import store

bp = Blueprint("teams", __name__, url_prefix="/api/auth/organization")
TEAM = obj(("id", "name", "organizationId"), id=UUID, name={"type": "string"}, organizationId=UUID,
           createdAt=STAMP, updatedAt=STAMP)
TEAM_MEMBER = obj(("id", "teamId", "userId"), id=UUID, teamId=UUID, userId=UUID, createdAt=STAMP)
_TEAMS = {"type": "array", "items": TEAM}
_MESSAGE = obj(("message",), message={"type": "string"})


def _team_id(value: object) -> uuid.UUID:
    found = as_uuid(value)
    if found is None:
        raise TeamNotFoundError()
    return found


@bp.post("/create-team")
@endpoint(permission("team", "create", refused_with=NotAllowedToCreateTeamsError), tag="teams", body=CreateTeam,
          response=TEAM, people_only=True)
def create_team(body: CreateTeam) -> ResponseReturnValue:
    """Create a team in the session's org; audited"""
    name = body.name
    with session_scope() as scope:
        row = store.create(scope, name=name)
    return store.team_json(row)


@bp.get("/list-teams")
@endpoint(permission("team", "read"), tag="teams", response=_TEAMS)
def list_teams() -> ResponseReturnValue:
    """The session org's teams"""
    with session_scope(read_only=True) as scope:
        rows = store.list_teams(scope)
    return jsonify([store.team_json(row) for row in rows])


@bp.post("/update-team")
@endpoint(permission("team", "update", refused_with=NotAllowedToUpdateTeamError), tag="teams", body=UpdateTeam,
          response=TEAM, people_only=True)
def update_team(body: UpdateTeam) -> ResponseReturnValue:
    """Rename a team; audited"""
    with session_scope() as scope:
        team = store.find(scope, _team_id(body.teamId), lock=True)
        row = store.rename(scope, team, name=body.data.name)
    return store.team_json(row)


@bp.post("/remove-team")
@endpoint(permission("team", "delete", refused_with=NotAllowedToDeleteTeamsError), tag="teams", body=TeamRef,
          response=_MESSAGE, people_only=True)
def remove_team(body: TeamRef) -> ResponseReturnValue:
    """Remove a team: its members leave it, its conversations narrow to their creators, owners and admins"""
    team_id = _team_id(body.teamId)
    with session_scope() as scope:
        store.remove(scope, store.find(scope, team_id, lock=True))
    return {"message": "Team removed successfully."}


@bp.post("/set-active-team")
@endpoint(MEMBER, tag="teams", body=SetActiveTeam, response={**TEAM, "nullable": True}, people_only=True)
def set_active_team(body: SetActiveTeam) -> ResponseReturnValue:
    """Set the session's activeTeamId to a team the caller is in (in place); null clears it"""
    ident = g.identity
    sent = "teamId" in body.model_fields_set  # absent keeps the active team, null clears it
    if not sent and ident.active_team_id is None:
        return jsonify(None)
    team_id = body.teamId if sent else ident.active_team_id
    team = None
    if team_id is not None:
        with session_scope(read_only=True) as scope:
            team = store.find(scope, _team_id(team_id))
            if not store.is_member(scope, team["id"], ident.user_id):
                raise NotInTeamForbiddenError()
    _remember_team(ident.token_hash, None if team is None else team["id"])
    return jsonify(None if team is None else store.team_json(team))


def _remember_team(token_hash: str, team_id: uuid.UUID | None) -> None:
    """The session row (control plane, in the shared database) keeps the active team; the team itself was
    read where the org's rows live."""
    with get_db().identity_transaction(session_token_hash=token_hash) as scope:
        scope.execute("UPDATE sessions SET active_team_id = %s WHERE token_hash = %s AND revoked_at IS NULL",
                      (team_id, token_hash))


@bp.get("/list-user-teams")
@endpoint(MEMBER, tag="teams", response=_TEAMS)
def list_user_teams() -> ResponseReturnValue:
    """The caller's teams in the session's org (`userId`: another member's, for whoever may update members)"""
    ident = g.identity
    user_id = ident.user_id
    if request.args.get("userId") and request.args["userId"] != str(ident.user_id):
        if not allows(ident, "member", "update"):
            raise NotAllowedToUpdateMemberError()
        user_id = as_uuid(request.args["userId"]) or uuid.UUID(int=0)
    with session_scope(read_only=True) as scope:
        rows = store.teams_of(scope, user_id)
    return jsonify([store.team_json(row) for row in rows])


@bp.get("/list-team-members")
@endpoint(MEMBER, tag="teams", response={"type": "array", "items": TEAM_MEMBER})
def list_team_members() -> ResponseReturnValue:
    """A team's members (`teamId`, else the active team's): to its members and to whoever may manage teams"""
    ident = g.identity
    wanted = request.args.get("teamId") or ident.active_team_id
    if wanted is None:
        raise NoActiveTeamError()
    with session_scope(read_only=True) as scope:
        team = store.find(scope, _team_id(wanted))
        if not allows(ident, "team", "update") and not store.is_member(scope, team["id"], ident.user_id):
            raise NotInTeamError()  # 400, as Better Auth answers it
        rows = store.members_of(scope, team["id"])
    return jsonify([store.team_member_json(row) for row in rows])


@bp.post("/add-team-member")
@endpoint(permission("team", "update", refused_with=NotAllowedToAddTeamMemberError), tag="teams",
          body=TeamMemberRef, response=TEAM_MEMBER, people_only=True)
def add_team_member(body: TeamMemberRef) -> ResponseReturnValue:
    """Add a member of the org to a team; audited"""
    user_id = as_uuid(body.userId)
    with session_scope() as scope:
        team = store.find(scope, _team_id(body.teamId), lock=True)
        if user_id is None:
            raise UserNotMemberError()
        row = store.add_member(scope, team, user_id)
    return store.team_member_json(row)


@bp.post("/remove-team-member")
@endpoint(permission("team", "update", refused_with=NotAllowedToRemoveTeamMemberError), tag="teams",
          body=TeamMemberRef, response=_MESSAGE, people_only=True)
def remove_team_member(body: TeamMemberRef) -> ResponseReturnValue:
    """Remove someone from a team; audited"""
    user_id = as_uuid(body.userId)
    with session_scope() as scope:
        team = store.find(scope, _team_id(body.teamId), lock=True)
        if user_id is None:
            raise NotInTeamError()
        store.remove_member(scope, team, user_id)
    return {"message": "Team member removed successfully."}
