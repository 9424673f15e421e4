"""The org's teams and their members: rows, Better Auth's shapes, and audit entries.

Teams live where the org's data lives (placed tables), so the views use the
ordinary org door. A team member must be a member of the org (a foreign key);
removing someone from the org removes them from every team. Every change is
audited in the org's trail.
"""
from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg import sql

from app import audit
from app.db import Row, Scope
from app.errors.better_auth import (
    NotInTeamError,
    TeamExistsError,
    TeamNotFoundError,
    TooManyTeamsError,
    UserNotMemberError,
)
from app.instants import iso_ms

MAX_TEAMS_PER_ORG = 500
_TEAM = sql.SQL(", ").join(map(sql.Identifier, ("id", "org_id", "name", "created_at", "updated_at")))
_MEMBER = sql.SQL(", ").join(map(sql.Identifier, ("id", "org_id", "team_id", "user_id", "created_at")))


def team_json(row: Row) -> dict[str, Any]:
    return {"id": str(row["id"]), "name": row["name"], "organizationId": str(row["org_id"]),
            "createdAt": iso_ms(row["created_at"]), "updatedAt": iso_ms(row["updated_at"])}


def team_member_json(row: Row) -> dict[str, Any]:
    return {"id": str(row["id"]), "teamId": str(row["team_id"]), "userId": str(row["user_id"]),
            "createdAt": iso_ms(row["created_at"])}


def list_teams(scope: Scope) -> list[Row]:
    return scope.fetch_all(sql.SQL("SELECT {} FROM teams WHERE org_id = %s ORDER BY created_at, id").format(_TEAM),
                           (scope.org_id,))


def teams_of(scope: Scope, user_id: uuid.UUID) -> list[Row]:
    return scope.fetch_all(sql.SQL(
        "SELECT {} FROM teams WHERE org_id = %(org)s AND id IN"
        " (SELECT team_id FROM team_members WHERE org_id = %(org)s AND user_id = %(user)s)"
        " ORDER BY created_at, id").format(_TEAM), {"org": scope.org_id, "user": user_id})


def find(scope: Scope, team_id: uuid.UUID | None, *, lock: bool = False) -> Row:
    """The org's team (TEAM_NOT_FOUND for another org's, a missing one or a malformed id)."""
    row = None if team_id is None else scope.fetch_one(
        sql.SQL("SELECT {} FROM teams WHERE org_id = %s AND id = %s{}").format(
            _TEAM, sql.SQL(" FOR UPDATE") if lock else sql.SQL("")), (scope.org_id, team_id))
    if row is None:
        raise TeamNotFoundError()
    return row


def is_member(scope: Scope, team_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    return bool(scope.fetch_value("SELECT 1 FROM team_members WHERE org_id = %s AND team_id = %s AND user_id = %s",
                                  (scope.org_id, team_id, user_id)))


def create(scope: Scope, *, name: str) -> Row:
    count = scope.fetch_value("SELECT count(*) FROM teams WHERE org_id = %s", (scope.org_id,))
    if count is not None and int(count) >= MAX_TEAMS_PER_ORG:
        raise TooManyTeamsError()
    try:
        with scope.conn.transaction():
            row = scope.fetch_one(sql.SQL("INSERT INTO teams (org_id, name) VALUES (%s, %s) RETURNING {}").format(
                _TEAM), (scope.org_id, name))
    except psycopg.errors.UniqueViolation:
        raise TeamExistsError() from None
    assert row is not None
    audit.record(scope, action="team.create", entity="team", entity_id=row["id"], changed_fields=("name",),
                 detail={"name": name})
    return row


def rename(scope: Scope, team: Row, *, name: str) -> Row:
    try:
        with scope.conn.transaction():
            row = scope.fetch_one(sql.SQL(
                "UPDATE teams SET name = %s, updated_at = now() WHERE org_id = %s AND id = %s RETURNING {}").format(
                _TEAM), (name, scope.org_id, team["id"]))
    except psycopg.errors.UniqueViolation:
        raise TeamExistsError() from None
    assert row is not None
    audit.record(scope, action="team.update", entity="team", entity_id=team["id"], changed_fields=("name",),
                 detail={"from": team["name"], "to": name})
    return row


def remove(scope: Scope, team: Row) -> None:
    """Delete the team and its memberships; its conversations keep its id, so they are not widened (sql/145)."""
    scope.execute("DELETE FROM teams WHERE org_id = %s AND id = %s", (scope.org_id, team["id"]))
    audit.record(scope, action="team.delete", entity="team", entity_id=team["id"], detail={"name": team["name"]})


def members_of(scope: Scope, team_id: uuid.UUID) -> list[Row]:
    return scope.fetch_all(sql.SQL(
        "SELECT {} FROM team_members WHERE org_id = %s AND team_id = %s ORDER BY created_at, id").format(_MEMBER),
        (scope.org_id, team_id))


def add_member(scope: Scope, team: Row, user_id: uuid.UUID) -> Row:
    """Add an org member to the team (the same member again answers their row); not an org member: 400."""
    if not scope.fetch_value("SELECT 1 FROM members WHERE org_id = %s AND user_id = %s", (scope.org_id, user_id)):
        raise UserNotMemberError()
    row = scope.fetch_one(sql.SQL(
        "INSERT INTO team_members (org_id, team_id, user_id) VALUES (%s, %s, %s)"
        " ON CONFLICT (org_id, team_id, user_id) DO NOTHING RETURNING {}").format(_MEMBER),
        (scope.org_id, team["id"], user_id))
    if row is None:
        existing = scope.fetch_one(sql.SQL(
            "SELECT {} FROM team_members WHERE org_id = %s AND team_id = %s AND user_id = %s").format(_MEMBER),
            (scope.org_id, team["id"], user_id))
        assert existing is not None
        return existing
    audit.record(scope, action="team.member_add", entity="team", entity_id=team["id"], changed_fields=("members",),
                 detail={"userId": str(user_id), "team": team["name"]})
    return row


def remove_member(scope: Scope, team: Row, user_id: uuid.UUID) -> None:
    gone = scope.fetch_one("DELETE FROM team_members WHERE org_id = %s AND team_id = %s AND user_id = %s RETURNING id",
                           (scope.org_id, team["id"], user_id))
    if gone is None:
        raise NotInTeamError()
    audit.record(scope, action="team.member_remove", entity="team", entity_id=team["id"],
                 changed_fields=("members",), detail={"userId": str(user_id), "team": team["name"]})
