"""Background jobs over HTTP: enqueue, list, get (progress, last error), cancel, retry, kept results.

Everything is in the session's org: the org comes from the session, never the
body, and a job id of another org is simply not found. Admins and owners
enqueue, cancel and retry (`job` create / update); every member may look. A
job enqueued with an API key records the key beside its creator, who is the
actor of everything the job does.
"""
from __future__ import annotations

from flask import Blueprint, g, request
from flask.typing import ResponseReturnValue

from app.api import get_db
from app.bodies import body
from app.bodies.requests import NewJob
from app.config import JobSettings
from app.errors import ValidationError
from app.jobs import store
from app.permissions import require
from app.state import services

bp = Blueprint("jobs", __name__, url_prefix="/api/v1/jobs")


def _config() -> JobSettings:
    return services().jobs


def _limit(default: int) -> int:
    raw = request.args.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= store.MAX_LIST:
        raise ValidationError(f"limit must be an integer from 1 to {store.MAX_LIST}",
                              details={"fields": {"limit": f"must be from 1 to {store.MAX_LIST}"}})
    return int(raw)


def _scheduled() -> bool | None:
    raw = request.args.get("scheduled")
    if raw in (None, ""):
        return None
    if raw not in ("true", "false"):
        raise ValidationError("scheduled must be true (recurring jobs only) or false (one-off jobs only)",
                              details={"fields": {"scheduled": "must be true or false"}})
    return raw == "true"


@bp.post("")
@require("job", "create")
def enqueue_job() -> ResponseReturnValue:
    new = body(NewJob)
    ident = g.identity
    row = store.enqueue(get_db(), _config(), org_id=ident.org_id, user_id=ident.user_id, kind=new.kind,
                        payload=new.payload, schedule=new.schedule, max_attempts=new.maxAttempts,
                        api_key_id=getattr(ident, "api_key_id", None))
    return store.to_json(row), 201


@bp.get("")
@require("job", "read")
def list_jobs() -> ResponseReturnValue:
    rows = store.list_jobs(get_db(), g.identity.org_id, status=request.args.get("status") or None,
                           kind=request.args.get("kind") or None, scheduled=_scheduled(), limit=_limit(50))
    return {"data": [store.to_json(r) for r in rows]}


@bp.get("/<job_id>")
@require("job", "read")
def get_job(job_id: str) -> ResponseReturnValue:
    return store.to_json(store.get(get_db(), g.identity.org_id, job_id))


@bp.post("/<job_id>/cancel")
@require("job", "update")
def cancel_job(job_id: str) -> ResponseReturnValue:
    return store.to_json(store.cancel(get_db(), g.identity.org_id, job_id, user_id=g.identity.user_id))


@bp.post("/<job_id>/retry")
@require("job", "update")
def retry_job(job_id: str) -> ResponseReturnValue:
    return store.to_json(store.retry(get_db(), g.identity.org_id, job_id, user_id=g.identity.user_id))


@bp.get("/<job_id>/results")
@require("job", "read")
def job_results(job_id: str) -> ResponseReturnValue:
    rows = store.results(get_db(), g.identity.org_id, job_id, limit=_limit(20))
    return {"data": [store.result_json(r) for r in rows]}
