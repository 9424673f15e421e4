"""The worker's side of the jobs table: find due work, claim it, renew its lease, finish it.

Finding is the one cross-org step: app/jobs/discovery.py asks app.due_jobs()
on the worker role's own connections (one per database an org is placed in),
which may do nothing else, and gets back (org id, job id) pairs only
(sql/085_jobs.sql). Everything after runs in the job's org
transaction on the application role, as any request would: `claim` takes the
org's advisory lock, checks the org's running cap, and leases the job with
FOR UPDATE SKIP LOCKED, so two workers never hold the same lease. Every later
write names the lease owner: a worker whose lease expired (or whose job was
canceled) changes nothing.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from app import audit
from app.config import JobSettings
from app.db import Database, Row, Scope
from app.jobs import schedule as cron
from app.jobs.store import COLUMNS
from app.permissions import may_run_jobs
from app.roles import outranks

log = logging.getLogger("atlas.jobs")

LOCK_CLASS = 0x4A6F6273  # "Jobs": advisory lock space of the per-org running cap
ERROR_CHARS = 4000


def org_lock_key(org_id: uuid.UUID) -> int:
    return int.from_bytes(org_id.bytes[:4], "big", signed=True)


def marked_for_deletion(db: Database, org_id: uuid.UUID) -> bool:
    """Whether `atlas org delete` marked the org (sql/161): its jobs then stay as they are, unclaimed, until
    --cancel (they run again, schedules included) or the purge (they go with the org). Not run and not
    failed: a dead job would stay dead after --cancel, and its creator's membership is only set aside."""
    with db.identity_transaction() as scope:
        return scope.fetch_value("SELECT app.org_marked_for_deletion(%s)", (org_id,)) is True


def claim(db: Database, config: JobSettings, org_id: uuid.UUID, job_id: uuid.UUID, *,
          owner: str) -> tuple[Row, str] | None:
    """Lease the job (or, if another worker took it, the org's next due one) for `owner` if the org is
    under its cap: (job, the role it runs with: its creator's, or its API key's when that is lower).

    A job whose lease expired after its last allowed attempt goes to the dead letter
    instead; a job whose creator is no longer an admin or owner of the org, or whose
    API key was revoked or expired, fails without running. Both are audited, and
    neither is returned.
    """
    with db.transaction(org_id) as scope:
        scope.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, org_lock_key(org_id)))
        running = scope.fetch_value(
            "SELECT count(*) FROM jobs WHERE org_id = %s AND status = 'running' AND lease_expires_at >= now()",
            (org_id,))
        if running >= config.max_running_per_org:
            return None
        row = scope.fetch_one(sql.SQL(
            "UPDATE jobs SET attempts = attempts + 1, locked_at = now(), updated_at = now(),"
            " status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'running' END,"
            " lease_owner = %(owner)s, lease_expires_at = now() + make_interval(secs => %(lease)s),"
            " finished_at = CASE WHEN attempts >= max_attempts THEN now() END,"
            " last_error = CASE WHEN attempts >= max_attempts"
            "   THEN 'its worker stopped without finishing (lease expired) on the last allowed attempt'"
            "   ELSE last_error END"
            " WHERE org_id = %(org)s AND id = coalesce("
            "   (SELECT id FROM jobs WHERE org_id = %(org)s AND id = %(id)s AND ((status = 'queued'"
            "     AND run_after <= now()) OR (status = 'running' AND lease_expires_at < now()))"
            "    FOR UPDATE SKIP LOCKED),"
            # Another worker took the candidate: the org's next due job instead, so that
            # workers offered the same org do not idle.
            "   (SELECT id FROM jobs WHERE org_id = %(org)s AND status = 'queued' AND run_after <= now()"
            "    ORDER BY run_after LIMIT 1 FOR UPDATE SKIP LOCKED))"
            " RETURNING {}").format(COLUMNS), {"owner": owner, "lease": config.lease_s, "org": org_id, "id": job_id})
        if row is None:
            return None
        if row["status"] == "dead":
            _record(scope, "job.dead", row, outcome="error")
            return None
        role = _creator_role(scope, row)
        refusal, key_role = key_standing(scope, row) if may_run_jobs(role) else (
            "its creator is no longer an admin or owner of the organization", None)
        if refusal is not None:
            _finish(scope, row, owner=owner, status="dead", error=refusal)
            _record(scope, "job.refused", row, outcome="refused", detail={"reason": refusal})
            return None
    if key_role is not None and outranks(str(role), key_role):
        role = key_role  # as in a request: the lower of the key's role and its creator's
    return row, str(role)


def key_standing(scope: Scope, job: Row) -> tuple[str | None, str | None]:
    """(Why the API key that enqueued `job` may no longer act: revoked, expired, gone; the key's role).

    (None, None) for a job no key enqueued. Checked at every claim, in the claiming transaction: a job runs
    with its key's authority, so a key revoked between enqueue and run (or between two runs of a schedule)
    stops it even if the revocation's cascade (app/cascades.py) has not reached it.
    """
    if job["api_key_id"] is None:
        return None, None
    key = scope.fetch_one("SELECT role, revoked_at IS NOT NULL AS revoked, expires_at <= now() AS expired"
                          " FROM api_keys WHERE org_id = %s AND id = %s", (job["org_id"], job["api_key_id"]))
    if key is None:
        return "the API key that enqueued it no longer exists", None
    if key["revoked"]:
        return "the API key that enqueued it was revoked", key["role"]
    if key["expired"]:
        return "the API key that enqueued it expired", key["role"]
    return None, key["role"]


def renew(db: Database, config: JobSettings, job: Row, *, owner: str, progress: tuple[int, int | None, str] | None
          = None) -> bool:
    """Extend the lease (and record progress); False when the lease is no longer ours (lost or canceled)."""
    done, total, message = progress if progress is not None else (None, None, None)
    with db.transaction(job["org_id"]) as scope:
        return scope.fetch_value(
            "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => %(lease)s), updated_at = now(),"
            " progress_done = coalesce(%(done)s, progress_done),"
            " progress_total = CASE WHEN %(set)s THEN %(total)s ELSE progress_total END,"
            " progress_message = CASE WHEN %(set)s THEN %(message)s ELSE progress_message END"
            " WHERE org_id = %(org)s AND id = %(id)s AND status = 'running' AND lease_owner = %(owner)s"
            " RETURNING true",
            {"lease": config.lease_s, "done": done, "total": total, "message": (message or "")[:500] or None,
             "set": progress is not None, "org": job["org_id"], "id": job["id"], "owner": owner}) is True


def succeed(db: Database, job: Row, *, owner: str, result: dict[str, Any]) -> bool:
    """Done; a scheduled job is queued again for its next time, attempts counted afresh."""
    with db.transaction(job["org_id"]) as scope:
        if job["schedule"]:
            row = _update(scope, job, owner, sql.SQL(
                "status = 'queued', attempts = 0, run_after = %(next)s, last_error = NULL, result = %(result)s,"
                " finished_at = now()"), {"next": cron.next_run(job["schedule"]), "result": Jsonb(result)})
        else:
            row = _finish(scope, job, owner=owner, status="succeeded", result=result)
        if row is None:
            return False
        _record(scope, "job.succeeded", row, detail={"result": result})
    return True


def fail(db: Database, config: JobSettings, job: Row, *, owner: str, error: str, permanent: bool) -> str | None:
    """Queue a retry after the backoff, or (last attempt, or a permanent error) move to the dead letter."""
    with db.transaction(job["org_id"]) as scope:
        if permanent or job["attempts"] >= job["max_attempts"]:
            row = _finish(scope, job, owner=owner, status="dead", error=error)
            action = "job.dead"
        else:
            row = _update(scope, job, owner, sql.SQL(
                "status = 'queued', run_after = now() + make_interval(secs => %(wait)s), last_error = %(error)s"),
                {"wait": config.backoff_s(job["attempts"]), "error": error[:ERROR_CHARS]})
            action = "job.retry_scheduled"
        if row is None:
            return None
        _record(scope, action, row, outcome="error", detail={"error": error[:ERROR_CHARS]})
    return str(row["status"])


def _creator_role(scope: Scope, job: Row) -> str | None:
    if job["created_by"] is None:
        return None
    return scope.fetch_value("SELECT role FROM members WHERE org_id = %s AND user_id = %s",
                             (job["org_id"], job["created_by"]))


def _finish(scope: Scope, job: Row, *, owner: str, status: str, error: str | None = None,
            result: dict[str, Any] | None = None) -> Row | None:
    return _update(scope, job, owner, sql.SQL(
        "status = %(status)s, finished_at = now(), last_error = coalesce(%(error)s, last_error),"
        " result = coalesce(%(result)s, result)"),
        {"status": status, "error": None if error is None else error[:ERROR_CHARS],
         "result": None if result is None else Jsonb(result)})


def _update(scope: Scope, job: Row, owner: str, assignments: sql.SQL, params: dict[str, Any]) -> Row | None:
    """Apply `assignments` (and drop the lease) only while `owner` still holds the running job's lease."""
    return scope.fetch_one(sql.SQL(
        "UPDATE jobs SET {}, lease_owner = NULL, lease_expires_at = NULL, updated_at = now()"
        " WHERE org_id = %(org)s AND id = %(id)s AND status = 'running' AND lease_owner = %(owner)s"
        " RETURNING {}").format(assignments, COLUMNS),
        {**params, "org": job["org_id"], "id": job["id"], "owner": owner})


def _record(scope: Scope, action: str, job: Row, *, outcome: str = "ok",
            detail: dict[str, Any] | None = None) -> None:
    """Audited to the job's creator (and its API key, when one enqueued it); no request id."""
    extra: dict[str, Any] = {"kind": job["kind"], "attempt": job["attempts"], "status": job["status"]}
    if job["api_key_id"] is not None:
        extra["apiKeyId"] = str(job["api_key_id"])
    audit.record(scope, action=action, entity="job", entity_id=job["id"], outcome=outcome,
                 detail={**extra, **(detail or {})}, actor_user_id=job["created_by"], request_id=None,
                 api_key_id=job["api_key_id"])
