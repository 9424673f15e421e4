"""Jobs as the API sees them: enqueue, list, get, cancel, retry, kept results; all in the caller's org.

Every function takes the org from its caller (the session's org) and runs in
that org's transaction, so RLS alone keeps another org's jobs out of reach; a
job id of another org is simply not found. Each change is audited in the same
transaction as the change.
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
from app.errors import JobStateError, NotFoundError, UnauthorizedError, ValidationError
from app.jobs import schedule as cron
from app.jobs.kinds import KINDS
from app.serialize import value_json

COLUMN_NAMES = ("org_id", "id", "kind", "payload", "status", "attempts", "max_attempts", "run_after",
                "locked_at", "lease_expires_at", "last_error", "progress_done", "progress_total", "progress_message",
                "schedule", "result", "created_by", "api_key_id", "created_at", "updated_at", "finished_at")
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
            audit_actor: object = None) -> Row:
    """Validate and queue one job in `org_id`, created by `user_id` (and `api_key_id`, when a key asked).

    A job with a schedule first runs at the schedule's next time and runs again at each one after.
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
        row = scope.fetch_one(sql.SQL(
            "INSERT INTO jobs (org_id, kind, payload, schedule, run_after, max_attempts, created_by, api_key_id)"
            " VALUES (%(org)s, %(kind)s, %(payload)s, %(schedule)s, coalesce(%(run_after)s, now()),"
            " %(max)s, %(user)s, %(key)s) RETURNING {}").format(COLUMNS),
            {"org": scope.org_id, "kind": kind, "payload": Jsonb(checked), "schedule": schedule,
             "run_after": run_after, "max": max_attempts or config.max_attempts, "user": user_id,
             "key": api_key_id})
        assert row is not None
        _audit(scope, "job.enqueue", row, audit_actor)
    return row


def list_jobs(db: Database, org_id: object, *, status: str | None = None, kind: str | None = None,
              scheduled: bool | None = None, limit: int = 50) -> list[Row]:
    """The org's jobs, newest first; `scheduled`: only recurring ones (True) or only one-off ones (False)."""
    if status is not None and status not in STATUSES:
        raise ValidationError(f"status must be one of {', '.join(STATUSES)}",
                              details={"fields": {"status": "is not a job status"}})
    with db.transaction(org_id, read_only=True) as scope:
        return scope.fetch_all(sql.SQL(
            "SELECT {} FROM jobs WHERE org_id = %(org)s"
            " AND (%(status)s::text IS NULL OR status = %(status)s) AND (%(kind)s::text IS NULL OR kind = %(kind)s)"
            " AND (%(scheduled)s::boolean IS NULL OR (schedule IS NOT NULL) = %(scheduled)s)"
            " ORDER BY created_at DESC, id LIMIT %(limit)s").format(COLUMNS),
            {"org": scope.org_id, "status": status, "kind": kind, "scheduled": scheduled,
             "limit": max(1, min(limit, MAX_LIST))})


def get(db: Database, org_id: object, raw_id: object) -> Row:
    with db.transaction(org_id, read_only=True) as scope:
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


def results(db: Database, org_id: object, raw_id: object, *, limit: int = 20) -> list[Row]:
    """A scheduled query's kept results, newest first (expired ones are never shown)."""
    with db.transaction(org_id, read_only=True) as scope:
        job = _one(scope, job_id(raw_id))
        return scope.fetch_all(
            "SELECT id, job_id, created_at, expires_at, result FROM job_results"
            " WHERE org_id = %s AND job_id = %s AND expires_at > now() ORDER BY created_at DESC LIMIT %s",
            (scope.org_id, job["id"], max(1, min(limit, MAX_LIST))))


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
        "finishedAt": _stamp(row["finished_at"]),
    }


def result_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": str(row["id"]), "jobId": str(row["job_id"]), "createdAt": _stamp(row["created_at"]),
            "expiresAt": _stamp(row["expires_at"]), "result": row["result"]}


def _stamp(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _one(scope: Scope, ident: uuid.UUID) -> Row:
    row = scope.fetch_one(sql.SQL("SELECT {} FROM jobs WHERE org_id = %s AND id = %s").format(COLUMNS),
                          (scope.org_id, ident))
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

