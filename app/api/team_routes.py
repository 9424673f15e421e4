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
from app.bodies import body, json_body
from app.bodies.teams import CreateTeam, SetActiveTeam, TeamMemberRef, TeamRef, UpdateTeam
from app.errors import BetterAuthError
from app.permissions import allows, member_required, people_only, require
from app.teams import store

bp = Blueprint("teams", __name__, url_prefix="/api/auth/organization")


def _team_id(value: object) -> uuid.UUID:
    found = as_uuid(value)
    if found is None:
        raise BetterAuthError("TEAM_NOT_FOUND")
    return found


@bp.post("/create-team")
@require("team", "create", refusal_code="YOU_ARE_NOT_ALLOWED_TO_CREATE_TEAMS_IN_THIS_ORGANIZATION")
@people_only
def create_team() -> ResponseReturnValue:
    name = body(CreateTeam).name
    with session_scope() as scope:
        row = store.create(scope, name=name)
    return store.team_json(row)


@bp.get("/list-teams")
@require("team", "read")
def list_teams() -> ResponseReturnValue:
    with session_scope(read_only=True) as scope:
        rows = store.list_teams(scope)
    return jsonify([store.team_json(row) for row in rows])


@bp.post("/update-team")
@require("team", "update", refusal_code="YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_TEAM")
@people_only
def update_team() -> ResponseReturnValue:
    change = body(UpdateTeam)
    with session_scope() as scope:
        team = store.find(scope, _team_id(change.teamId), lock=True)
        row = store.rename(scope, team, name=change.data.name)
    return store.team_json(row)


@bp.post("/remove-team")
@require("team", "delete", refusal_code="YOU_ARE_NOT_ALLOWED_TO_DELETE_TEAMS_IN_THIS_ORGANIZATION")
@people_only
def remove_team() -> ResponseReturnValue:
    """Its members leave it; its conversations narrow to their creators and the owners and admins."""
    team_id = _team_id(body(TeamRef).teamId)
    with session_scope() as scope:
        store.remove(scope, store.find(scope, team_id, lock=True))
    return {"message": "Team removed successfully."}


@bp.post("/set-active-team")
@member_required
@people_only
def set_active_team() -> ResponseReturnValue:
    """The session's active team (one the caller is in), changed in place; null clears it."""
    ident = g.identity
    wanted = body(SetActiveTeam)
    given = json_body()
    if "teamId" not in given and ident.active_team_id is None:
        return jsonify(None)
    team_id = ident.active_team_id if "teamId" not in given else wanted.teamId
    team = None
    if team_id is not None:
        with session_scope(read_only=True) as scope:
            team = store.find(scope, _team_id(team_id))
            if not store.is_member(scope, team["id"], ident.user_id):
                raise BetterAuthError("USER_IS_NOT_A_MEMBER_OF_THE_TEAM", status=403)
    with get_db().identity_transaction(session_token_hash=ident.token_hash) as scope:
        scope.execute("UPDATE sessions SET active_team_id = %s WHERE token_hash = %s AND revoked_at IS NULL",
                      (None if team is None else team["id"], ident.token_hash))
    return jsonify(None if team is None else store.team_json(team))


@bp.get("/list-user-teams")
@member_required
def list_user_teams() -> ResponseReturnValue:
    """The caller's teams in the session's org (another member's: for whoever may update members)."""
    ident = g.identity
    user_id = ident.user_id
    if request.args.get("userId") and request.args["userId"] != str(ident.user_id):
        if not allows(ident, "member", "update"):
            raise BetterAuthError("YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER", status=403)
        user_id = as_uuid(request.args["userId"]) or uuid.UUID(int=0)
    with session_scope(read_only=True) as scope:
        rows = store.teams_of(scope, user_id)
    return jsonify([store.team_json(row) for row in rows])


@bp.get("/list-team-members")
@member_required
def list_team_members() -> ResponseReturnValue:
    """`teamId`, else the active team's; to the team's own members and to whoever may manage teams."""
    ident = g.identity
    wanted = request.args.get("teamId") or ident.active_team_id
    if wanted is None:
        raise BetterAuthError("YOU_DO_NOT_HAVE_AN_ACTIVE_TEAM")
    with session_scope(read_only=True) as scope:
        team = store.find(scope, _team_id(wanted))
        if not allows(ident, "team", "update") and not store.is_member(scope, team["id"], ident.user_id):
            raise BetterAuthError("USER_IS_NOT_A_MEMBER_OF_THE_TEAM")  # 400, as Better Auth answers it
        rows = store.members_of(scope, team["id"])
    return jsonify([store.team_member_json(row) for row in rows])


@bp.post("/add-team-member")
@require("team", "update", refusal_code="YOU_ARE_NOT_ALLOWED_TO_CREATE_A_NEW_TEAM_MEMBER")
@people_only
def add_team_member() -> ResponseReturnValue:
    wanted = body(TeamMemberRef)
    user_id = as_uuid(wanted.userId)
    with session_scope() as scope:
        team = store.find(scope, _team_id(wanted.teamId), lock=True)
        if user_id is None:
            raise BetterAuthError("USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION")
        row = store.add_member(scope, team, user_id)
    return store.team_member_json(row)


@bp.post("/remove-team-member")
@require("team", "update", refusal_code="YOU_ARE_NOT_ALLOWED_TO_REMOVE_A_TEAM_MEMBER")
@people_only
def remove_team_member() -> ResponseReturnValue:
    wanted = body(TeamMemberRef)
    user_id = as_uuid(wanted.userId)
    with session_scope() as scope:
        team = store.find(scope, _team_id(wanted.teamId), lock=True)
        if user_id is None:
            raise BetterAuthError("USER_IS_NOT_A_MEMBER_OF_THE_TEAM")
        store.remove_member(scope, team, user_id)
    return {"message": "Team member removed successfully."}
