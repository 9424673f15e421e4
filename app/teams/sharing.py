"""Who reads a conversation or a job of a team: the one predicate every read and write of either adds.

A conversation without a team is the whole org's (as before teams). One with a
team is read by that team's members, by its creator, and by the org's owners
and admins (who may delete any conversation anyway); every other member of the
org gets the same 404 as for a conversation that does not exist. A removed
team's conversations keep its id (sql/145_teams.sql), so they narrow to their
creators and the owners and admins instead of widening to the whole org.
Jobs (saved, scheduled queries above all; sql/147_job_teams.sql) follow the
very same rule with the very same predicate: both tables name the columns
team_id and created_by.

The predicate reads the transaction's user and org (app.user_id, app.org_id),
set by the door and by app.resolve_session alike, so it serves hot reads and
ordinary transactions, in the shared database or a dedicated one (teams,
team members and the members mirror live beside the conversations).
"""
from __future__ import annotations

import uuid
from typing import Any

from psycopg import sql

from app.db import Row, Scope
from app.errors import ForbiddenError, NotFoundError

VISIBLE = sql.SQL(
    "(team_id IS NULL OR created_by = (SELECT app.current_user_id())"
    " OR team_id IN (SELECT tm.team_id FROM team_members tm WHERE tm.org_id = (SELECT app.current_org())"
    "                AND tm.user_id = (SELECT app.current_user_id()))"
    " OR EXISTS (SELECT 1 FROM members m WHERE m.org_id = (SELECT app.current_org())"
    "            AND m.user_id = (SELECT app.current_user_id()) AND m.role IN ('owner', 'admin')))")
MANAGERS = ("owner", "admin")  # the roles that read and share every team's conversations


def may_share_with(scope: Scope, ident: Any, team_id: uuid.UUID) -> None:
    """The team must be the org's (404 otherwise, another org's alike), and the caller in it unless an owner
    or admin: a member cannot hand a conversation or a job to a team they do not belong to."""
    if not scope.fetch_value("SELECT 1 FROM teams WHERE org_id = %s AND id = %s", (scope.org_id, team_id)):
        raise NotFoundError(f"team {team_id} not found")
    if ident.role in MANAGERS:
        return
    if not scope.fetch_value("SELECT 1 FROM team_members WHERE org_id = %s AND team_id = %s AND user_id = %s",
                             (scope.org_id, team_id, ident.user_id)):
        raise ForbiddenError(f"you are not a member of team {team_id}: share with a team you belong to")


def may_reshare(ident: Any, shared: Row, what: str = "conversation") -> None:
    """Only the row's creator, or an owner or admin, changes whom a conversation or job is shared with."""
    if ident.role not in MANAGERS and shared["created_by"] != ident.user_id:
        raise ForbiddenError(f"only the {what}'s creator, an owner or an admin may change its team")
