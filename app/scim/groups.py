"""SCIM Groups: the org's teams (app/teams). A Group's members are the team's members, by user id.

A Group's displayName is the team's name and its externalId is kept on the team;
its members must be active members of the org (a deactivated user cannot be put
in a team). Teams live where the org's data lives, so these are ordinary org
transactions. Every change is audited like the team endpoints' changes.
"""
from __future__ import annotations

import uuid
from typing import Any

import psycopg
from scim2_models import (
    Context,
    Group,
    GroupMember,
    InvalidValueException,
    Meta,
    NotFoundException,
    UniquenessException,
)

from app import audit
from app.db import Row, Scope
from app.scim.tokens import ScimCaller

_TEAMS = ("SELECT t.id, t.name, t.external_id, t.created_at, t.updated_at,"
          " coalesce(array_agg(tm.user_id ORDER BY tm.created_at, tm.id) FILTER (WHERE tm.user_id IS NOT NULL),"
          "          '{}') AS member_ids,"
          " coalesce(array_agg(tm.display ORDER BY tm.created_at, tm.id) FILTER (WHERE tm.user_id IS NOT NULL),"
          "          '{}') AS member_displays"
          " FROM teams t LEFT JOIN team_members tm ON tm.org_id = t.org_id AND tm.team_id = t.id"
          " WHERE t.org_id = %(org)s AND (%(team)s::uuid IS NULL OR t.id = %(team)s)"
          " GROUP BY t.org_id, t.id ORDER BY t.created_at, t.id")


def rows(scope: Scope, team_id: uuid.UUID | None = None) -> list[Row]:
    return scope.fetch_all(_TEAMS, {"org": scope.org_id, "team": team_id})


def find(scope: Scope, team_id: uuid.UUID | None) -> Row:
    found = [] if team_id is None else rows(scope, team_id)
    if not found:
        raise NotFoundException(detail=f"Group {team_id} not found")
    return found[0]


def as_resource(row: Row, *, location: str, user_location: str) -> Group:
    group = Group(display_name=row["name"], external_id=row["external_id"],
                  members=[GroupMember(value=str(user_id), type="User", display=display,
                                       ref=f"{user_location}/{user_id}")  # type: ignore[arg-type]  # a URI
                           for user_id, display in zip(row["member_ids"], row["member_displays"])] or None)
    group.id = str(row["id"])
    group.meta = Meta(resource_type="Group", created=row["created_at"], last_modified=row["updated_at"],
                      location=location)
    return group


def parse(payload: Any, context: Context) -> Group:
    try:
        return Group.model_validate(payload, scim_ctx=context)
    except Exception as exc:  # pydantic's ValidationError: the payload is not a valid Group
        raise InvalidValueException(detail=str(exc).splitlines()[0][:300]) from None


def _members(group: Group) -> dict[uuid.UUID, str | None]:
    """The members' user ids, each with the display the provider sent."""
    members: dict[uuid.UUID, str | None] = {}
    for member in group.members or []:
        try:
            members.setdefault(uuid.UUID(str(member.value)), member.display)
        except ValueError:
            raise InvalidValueException(detail=f"members: {member.value!r} is not a User id") from None
    return members


def _name(group: Group) -> str:
    name = (group.display_name or "").strip()
    if not name:
        raise InvalidValueException(detail="displayName is required")
    return name[:200]


def _set_members(scope: Scope, team_id: uuid.UUID, wanted: dict[uuid.UUID, str | None]) -> None:
    ids = list(wanted)
    scope.execute("DELETE FROM team_members WHERE org_id = %s AND team_id = %s AND NOT (user_id = ANY(%s))",
                  (scope.org_id, team_id, ids))
    try:
        with scope.conn.transaction():
            scope.execute(
                "INSERT INTO team_members (org_id, team_id, user_id, display)"
                " SELECT %s, %s, u, d FROM unnest(%s::uuid[], %s::text[]) AS m (u, d)"
                " ON CONFLICT (org_id, team_id, user_id) DO UPDATE SET display = EXCLUDED.display",
                (scope.org_id, team_id, ids, [wanted[i] for i in ids]))
    except psycopg.errors.ForeignKeyViolation:
        raise InvalidValueException(detail="members: every member must be an active User of this organization") from None


def create(scope: Scope, caller: ScimCaller, group: Group) -> uuid.UUID:
    name = _name(group)
    try:
        with scope.conn.transaction():
            team_id = scope.fetch_value("INSERT INTO teams (org_id, name, external_id) VALUES (%s, %s, %s) RETURNING id",
                                        (scope.org_id, name, group.external_id))
    except psycopg.errors.UniqueViolation:
        raise UniquenessException(detail=f"a Group named {name!r} already exists") from None
    _set_members(scope, team_id, _members(group))
    audit.record(scope, action="scim.group_create", entity="team", entity_id=team_id,
                 changed_fields=("name", "members"), actor_user_id=caller.created_by,
                 detail={"name": name, "scimTokenId": str(caller.token_id)})
    return uuid.UUID(str(team_id))


def replace(scope: Scope, caller: ScimCaller, current: Row, group: Group) -> None:
    name = _name(group)
    try:
        with scope.conn.transaction():
            scope.execute("UPDATE teams SET name = %s, external_id = %s, updated_at = now() WHERE org_id = %s AND id = %s",
                          (name, group.external_id, scope.org_id, current["id"]))
    except psycopg.errors.UniqueViolation:
        raise UniquenessException(detail=f"a Group named {name!r} already exists") from None
    _set_members(scope, current["id"], _members(group))
    audit.record(scope, action="scim.group_update", entity="team", entity_id=current["id"],
                 changed_fields=("name", "members"), actor_user_id=caller.created_by,
                 detail={"name": name, "scimTokenId": str(caller.token_id)})


def delete(scope: Scope, caller: ScimCaller, current: Row) -> None:
    scope.execute("DELETE FROM teams WHERE org_id = %s AND id = %s", (scope.org_id, current["id"]))
    audit.record(scope, action="scim.group_delete", entity="team", entity_id=current["id"],
                 actor_user_id=caller.created_by, detail={"name": current["name"], "scimTokenId": str(caller.token_id)})
