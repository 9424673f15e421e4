"""Jobs as the API sees them: enqueue, list, get, cancel, retry, kept results; all in the caller's org.

Every function takes the org from its caller (the session's org) and runs in
that org's transaction, so RLS alone keeps another org's jobs out of reach; a
job id of another org is simply not found. Within the org, a job shared with a
team (`team_id`) is seen and changed only by that team's members, its creator
and the org's owners and admins: every read and change adds the one predicate
of conversations (app/teams/sharing.py), so for anyone else it is not found
either. Each change is audited in the same transaction as the change.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from app import audit
from app.config import JobSettings
from app.db import Database, Row, Scope
from app.errors import NotFoundError, UnauthorizedError, ValidationError
from app.errors.operations import JobStateError
from app.jobs import schedule as cron
from app.jobs.kinds import KINDS
from app.serialize import value_json
from app.teams import sharing
from app.teams.sharing import VISIBLE

COLUMN_NAMES = ("org_id", "id", "kind", "payload", "status", "attempts", "max_attempts", "run_after",
                "locked_at", "lease_expires_at", "last_error", "progress_done", "progress_total", "progress_message",
                "schedule", "result", "created_by", "api_key_id", "created_at", "updated_at", "finished_at",
                "team_id")
COLUMNS = sql.SQL(", ").join(map(sql.Identifier, COLUMN_NAMES))
STATUSES = ("queued", "running", "succeeded", "dead", "canceled")
MAX_LIST = 100


def job_id(raw: object) -> uuid.UUID:
    """A malformed id is as unknown as another org's."""
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise NotFoundError(f"job {raw} not found") from None


def enqueue(db: Database, config: JobSettings, *, org_id: object, user_id: object, kind: str,
            payload: Mapping[str, Any] | None = None, schedule: str | None = None,
            max_attempts: int | None = None, api_key_id: object = None, public_only: bool = True,
            audit_actor: object = None, team_id: uuid.UUID | None = None, sharer: Any = None) -> Row:
    """Validate and queue one job in `org_id`, created by `user_id` (and `api_key_id`, when a key asked).

    A job with a schedule first runs at the schedule's next time and runs again at each one after. A job
    with `team_id` is shared with that team only; `sharer` (the caller's identity) must be allowed to
    (app/teams/sharing.py: the org's team, and the caller in it unless an owner or admin).
    """
    spec = KINDS.get(kind)
    if spec is None or (public_only and not spec.public):
        raise ValidationError(f"unknown job kind {kind!r}", details={"fields": {"kind": "is not a job kind"}})
    checked = spec.check(dict(payload or {}))
    if spec.scheduled and schedule is None:
        raise ValidationError(f"a {kind} job needs a schedule", details={"fields": {"schedule": "is required"}})
    schedule = cron.check(schedule) if schedule is not None else None
    run_after = cron.next_run(schedule) if schedule is not None else None
    with db.transaction(org_id, user_id=user_id) as scope:
        if api_key_id is not None:
            _hold_live_key(scope, api_key_id)
        if team_id is not None:
            sharing.may_share_with(scope, sharer, team_id)
        row = scope.fetch_one(sql.SQL(
            "INSERT INTO jobs (org_id, kind, payload, schedule, run_after, max_attempts, created_by, api_key_id,"
            " team_id) VALUES (%(org)s, %(kind)s, %(payload)s, %(schedule)s, coalesce(%(run_after)s, now()),"
            " %(max)s, %(user)s, %(key)s, %(team)s) RETURNING {}").format(COLUMNS),
            {"org": scope.org_id, "kind": kind, "payload": Jsonb(checked), "schedule": schedule,
             "run_after": run_after, "max": max_attempts or config.max_attempts, "user": user_id,
             "key": api_key_id, "team": team_id})
        assert row is not None
        _audit(scope, "job.enqueue", row, audit_actor)
    return row


def list_jobs(db: Database, org_id: object, *, user_id: object, status: str | None = None, kind: str | None = None,
              scheduled: bool | None = None, limit: int = 50) -> list[Row]:
    """The org's jobs `user_id` may see, newest first; `scheduled`: only recurring ones (True) or only one-off
    ones (False)."""
    if status is not None and status not in STATUSES:
        raise ValidationError(f"status must be one of {', '.join(STATUSES)}",
                              details={"fields": {"status": "is not a job status"}})
    with db.transaction(org_id, user_id=user_id, read_only=True) as scope:
        return scope.fetch_all(sql.SQL(
            "SELECT {} FROM jobs WHERE org_id = %(org)s AND {}"
            " AND (%(status)s::text IS NULL OR status = %(status)s) AND (%(kind)s::text IS NULL OR kind = %(kind)s)"
            " AND (%(scheduled)s::boolean IS NULL OR (schedule IS NOT NULL) = %(scheduled)s)"
            " ORDER BY created_at DESC, id LIMIT %(limit)s").format(COLUMNS, VISIBLE),
            {"org": scope.org_id, "status": status, "kind": kind, "scheduled": scheduled,
             "limit": max(1, min(limit, MAX_LIST))})


def get(db: Database, org_id: object, raw_id: object, *, user_id: object) -> Row:
    with db.transaction(org_id, user_id=user_id, read_only=True) as scope:
        return _one(scope, job_id(raw_id))


def cancel(db: Database, org_id: object, raw_id: object, *, user_id: object) -> Row:
    """Queued: never runs. Running: its worker stops it at its next progress report and writes nothing more."""
    return _change(db, org_id, raw_id, user_id=user_id, action="job.cancel", allowed=("queued", "running"),
                   assignments=sql.SQL("status = 'canceled', finished_at = now(), lease_owner = NULL,"
                                       " lease_expires_at = NULL"))


def retry(db: Database, org_id: object, raw_id: object, *, user_id: object) -> Row:
    """A dead or canceled job is queued again now, with its attempts counted from zero; not one whose API key
    was revoked or expired (it would act with an authority that ended: enqueue it again instead)."""
    return _change(db, org_id, raw_id, user_id=user_id, action="job.retry", allowed=("dead", "canceled"),
                   assignments=sql.SQL("status = 'queued', attempts = 0, run_after = now(), finished_at = NULL,"
                                       " last_error = NULL, progress_done = 0, progress_total = NULL,"
                                       " progress_message = NULL"))


def results(db: Database, org_id: object, raw_id: object, *, user_id: object, limit: int = 20) -> list[Row]:
    """A scheduled query's kept results, newest first (expired ones are never shown), to whoever sees the job."""
    with db.transaction(org_id, user_id=user_id, read_only=True) as scope:
        job = _one(scope, job_id(raw_id))
        return scope.fetch_all(
            "SELECT id, job_id, created_at, expires_at, result FROM job_results"
            " WHERE org_id = %s AND job_id = %s AND expires_at > now() ORDER BY created_at DESC LIMIT %s",
            (scope.org_id, job["id"], max(1, min(limit, MAX_LIST))))


def share(db: Database, org_id: object, raw_id: object, *, sharer: Any, team_id: uuid.UUID | None) -> Row:
    """Share a job with one team of the org, or (None) with the whole org: its creator, owners and admins, among
    those who see it (anyone else: not found); audited."""
    ident = job_id(raw_id)
    with db.transaction(org_id, user_id=sharer.user_id) as scope:
        current = _one(scope, ident, lock=True)
        sharing.may_reshare(sharer, current, "job")
        if team_id is not None:
            sharing.may_share_with(scope, sharer, team_id)
        row = scope.fetch_one(sql.SQL("UPDATE jobs SET team_id = %s, updated_at = now() WHERE org_id = %s"
                                      " AND id = %s RETURNING {}").format(COLUMNS), (team_id, scope.org_id, ident))
        assert row is not None
        audit.record(scope, action="job.share", entity="job", entity_id=ident, changed_fields=("team_id",),
                     detail={"from": value_json(current["team_id"]), "to": value_json(team_id)})
    return row


def to_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """The API's shape of a job."""
    return {
        "id": str(row["id"]), "kind": row["kind"], "payload": value_json(row["payload"]),
        "status": row["status"], "attempts": row["attempts"], "maxAttempts": row["max_attempts"],
        "runAfter": _stamp(row["run_after"]), "startedAt": _stamp(row["locked_at"]),
        "leaseExpiresAt": _stamp(row["lease_expires_at"]), "lastError": row["last_error"],
        "progress": {"done": row["progress_done"], "total": row["progress_total"],
                     "message": row["progress_message"]},
        "schedule": row["schedule"], "result": value_json(row["result"]),
        "createdBy": value_json(row["created_by"]), "apiKeyId": value_json(row["api_key_id"]),
        "createdAt": _stamp(row["created_at"]), "updatedAt": _stamp(row["updated_at"]),
        "finishedAt": _stamp(row["finished_at"]), "teamId": value_json(row["team_id"]),
    }


def result_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": str(row["id"]), "jobId": str(row["job_id"]), "createdAt": _stamp(row["created_at"]),
            "expiresAt": _stamp(row["expires_at"]), "result": row["result"]}


def _stamp(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _one(scope: Scope, ident: uuid.UUID, *, lock: bool = False) -> Row:
    """The job, if the transaction's user sees it (a team's job: its team, creator, owners, admins)."""
    row = scope.fetch_one(sql.SQL("SELECT {} FROM jobs WHERE org_id = %s AND id = %s AND {}{}").format(
        COLUMNS, VISIBLE, sql.SQL(" FOR UPDATE" if lock else "")), (scope.org_id, ident))
    if row is None:
        raise NotFoundError(f"job {ident} not found")
    return row


def _change(db: Database, org_id: object, raw_id: object, *, user_id: object, action: str,
            allowed: tuple[str, ...], assignments: sql.SQL) -> Row:
    ident = job_id(raw_id)
    with db.transaction(org_id, user_id=user_id) as scope:
        current = _one(scope, ident)
        if current["status"] not in allowed:
            raise JobStateError(f"job {ident} is {current['status']}; only a job that is "
                                f"{' or '.join(allowed)} can be {'canceled' if action == 'job.cancel' else 'retried'}")
        if action == "job.retry" and current["api_key_id"] is not None and not _key_is_live(scope, current):
            raise JobStateError(f"job {ident} was enqueued with an API key that is revoked or expired, so it "
                                "cannot be retried: enqueue it again with a live key or a session")
        row = scope.fetch_one(sql.SQL("UPDATE jobs SET {}, updated_at = now() WHERE org_id = %s AND id = %s"
                                      " RETURNING {}").format(assignments, COLUMNS), (scope.org_id, ident))
        assert row is not None
        _audit(scope, action, row, None, previous=current["status"])
    return row


def _hold_live_key(scope: Scope, api_key_id: object) -> None:
    """Lock the enqueuing key against revocation until this transaction ends, or refuse a revoked one.

    Revoking takes the key row's lock and then cancels the key's jobs (app/cascades.py): either it waits
    for this enqueue and then sees the new job, or this enqueue waits for it and sees the revocation.
    """
    live = scope.fetch_value(
        "SELECT true FROM api_keys WHERE org_id = %s AND id = %s AND revoked_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > now()) FOR SHARE", (scope.org_id, api_key_id))
    if not live:
        raise UnauthorizedError("this API key is not valid: it was revoked or expired while the job was enqueued")


def _key_is_live(scope: Scope, job: Row) -> bool:
    return scope.fetch_value(
        "SELECT true FROM api_keys WHERE org_id = %s AND id = %s AND revoked_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > now())", (scope.org_id, job["api_key_id"])) is True


def _audit(scope: Scope, action: str, row: Row, actor: object, *, previous: str | None = None) -> None:
    detail: dict[str, Any] = {"kind": row["kind"], "status": row["status"]}
    if previous is not None:
        detail["previousStatus"] = previous
    if row["api_key_id"] is not None:
        detail["apiKeyId"] = str(row["api_key_id"])
    kwargs: dict[str, Any] = {} if actor is None else {"actor_user_id": actor, "request_id": None}
    audit.record(scope, action=action, entity="job", entity_id=row["id"], detail=detail, **kwargs)

