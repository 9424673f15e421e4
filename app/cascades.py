"""What a revoked API key or a removed member left behind is stopped when they are, and audited.

A key's request ends, but what it started does not: a recurring job re-arms
itself every run and an invitation waits for its invitee. Revoking a key would
therefore not end a leaked key's reach. So revoking a key cancels its jobs
that are still queued or running and its invitations that are still pending;
removing a member (or a member leaving) also revokes their keys in the org and
cancels every job and pending invitation they started, by session or by key;
demoting a member cancels their pending invitations to a role above their new
one. Each change is audited with its `reason` (the action that caused it).

Jobs and API keys live where the org is placed; invitations are control-plane
rows in the shared database (app/placement/router.py). Each function works in
the scope it is given, so a caller runs it in the transaction of the change that
causes it, or in a second transaction in the other database right after.
Everything here is idempotent, so repeating the causing action (revoking an
already revoked key) finishes a cascade that a failure cut short.
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from psycopg import sql

from app import audit
from app.db import Row, Scope
from app.jobs.store import COLUMNS as JOB_COLUMNS
from app.orgs import invitations_sql
from app.roles import ROLES


def live_jobs_of(scope: Scope, user_id: uuid.UUID) -> list[uuid.UUID]:
    """The org's queued or running jobs created by `user_id`, read before their membership goes.

    Deleting a member sets their jobs' created_by to NULL (a foreign key to members), after which the
    worker refuses them but nothing says whose they were: a cascade cancels them by these ids.
    """
    return [row["id"] for row in scope.fetch_all(
        "SELECT id FROM jobs WHERE org_id = %s AND created_by = %s AND status IN ('queued', 'running')",
        (scope.org_id, user_id))]


def cancel_jobs(scope: Scope, *, reason: str, api_key_ids: Sequence[uuid.UUID] = (),
                job_ids: Sequence[uuid.UUID] = ()) -> list[Row]:
    """Cancel the org's queued or running jobs enqueued by one of `api_key_ids`, or among `job_ids`.

    A running job's worker stops at its next lease renewal or progress report and writes nothing more.
    """
    previous = {row["id"]: row["status"] for row in scope.fetch_all(
        "SELECT id, status FROM jobs WHERE org_id = %(org)s AND status IN ('queued', 'running')"
        " AND (api_key_id = ANY(%(keys)s) OR id = ANY(%(ids)s)) FOR UPDATE",
        {"org": scope.org_id, "keys": list(api_key_ids), "ids": list(job_ids)})}
    if not previous:
        return []
    rows = scope.fetch_all(sql.SQL(
        "UPDATE jobs SET status = 'canceled', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL,"
        " updated_at = now() WHERE org_id = %s AND id = ANY(%s) RETURNING {}").format(JOB_COLUMNS),
        (scope.org_id, list(previous)))
    for row in rows:
        detail: dict[str, Any] = {"kind": row["kind"], "status": row["status"],
                                  "previousStatus": previous[row["id"]], "reason": reason}
        if row["api_key_id"] is not None:
            detail["apiKeyId"] = str(row["api_key_id"])
        audit.record(scope, action="job.cancel", entity="job", entity_id=row["id"], changed_fields=("status",),
                     detail=detail)
    return rows


def cancel_invitations(scope: Scope, *, reason: str, api_key_ids: Sequence[uuid.UUID] = (),
                       inviter_id: uuid.UUID | None = None, above_role: str | None = None) -> list[Row]:
    """Cancel the org's pending invitations sent by one of `api_key_ids`, or by `inviter_id` (only those to a
    role above `above_role` when it is given); in a control-plane transaction."""
    rows = scope.fetch_all(invitations_sql(
        "UPDATE invitations SET status = 'canceled'"
        " WHERE org_id = %(org)s AND status = 'pending'"
        " AND (api_key_id = ANY(%(keys)s) OR (inviter_id = %(user)s AND (%(above)s::text IS NULL"
        "      OR array_position(%(roles)s::text[], role) > array_position(%(roles)s::text[], %(above)s::text))))"
        " RETURNING {c}, api_key_id"),
        {"org": scope.org_id, "keys": list(api_key_ids), "user": inviter_id, "above": above_role,
         "roles": list(ROLES)})
    for row in rows:
        detail: dict[str, Any] = {"email": row["email"], "role": row["role"], "reason": reason}
        if row["api_key_id"] is not None:
            detail["apiKeyId"] = str(row["api_key_id"])
        audit.record(scope, action="invitation.cancel", entity="invitation", entity_id=row["id"],
                     changed_fields=("status",), detail=detail)
    return rows


def revoke_keys_of(scope: Scope, *, user_id: uuid.UUID, revoked_by: uuid.UUID, reason: str) -> list[Row]:
    """Revoke every live key `user_id` created in the scope's org: had they rejoined, the keys would live again."""
    rows = scope.fetch_all(
        "UPDATE api_keys SET revoked_at = now(), revoked_by = %s"
        " WHERE org_id = %s AND created_by = %s AND revoked_at IS NULL RETURNING id, name",
        (revoked_by, scope.org_id, user_id))
    for row in rows:
        audit.record(scope, action="api_key.revoke", entity="api_key", entity_id=row["id"],
                     changed_fields=("revoked_at",), detail={"name": row["name"], "reason": reason})
    return rows


def stop_members_work(scope: Scope, *, user_id: uuid.UUID, revoked_by: uuid.UUID, reason: str,
                      job_ids: Sequence[uuid.UUID]) -> None:
    """A member left the org: their keys revoked, their keys' live jobs and `job_ids` (theirs, from
    `live_jobs_of` before they left) canceled; in the org's placed database."""
    keys = revoke_keys_of(scope, user_id=user_id, revoked_by=revoked_by, reason=reason)
    cancel_jobs(scope, reason=reason, api_key_ids=[row["id"] for row in keys], job_ids=job_ids)
