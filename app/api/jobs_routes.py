"""Background jobs over HTTP: enqueue, list, get (progress, last error), cancel, retry, kept results.

Everything is in the session's org: the org comes from the session, never the
body, and a job id of another org is simply not found. Admins and owners
enqueue, cancel and retry (`job` create / update); every member may look. A
job enqueued with an API key records the key beside its creator, who is the
actor of everything the job does. A job may be shared with one team
(`teamId`): then only that team's members, its creator and the org's owners
and admins list, read, cancel or retry it and read its results; anyone else
gets the 404 of a job that does not exist (app/teams/sharing.py, as for
conversations).
"""
from __future__ import annotations

from flask import Blueprint, g
from flask.typing import ResponseReturnValue

from app.api import get_db
from app.api.spec.schemas import obj, ref
from app.bodies.queries import JobFilter, JobResultsPage
from app.bodies.requests import JobTeam, NewJob
from app.config import JobSettings
from app.endpoint import endpoint
from app.http.context import services
from app.jobs import store
from app.permissions import permission

bp = Blueprint("jobs", __name__, url_prefix="/api/v1/jobs")


def _config() -> JobSettings:
    return services().jobs


@bp.post("")
@endpoint(permission("job", "create"), tag="jobs", body=NewJob, response=ref("Job"), status=201)
def enqueue_job(body: NewJob) -> ResponseReturnValue:
    """Enqueue a background job in the session's org (kinds: reprofile, scheduled_query with a cron schedule,
    warm_cache), optionally shared with one team (`teamId`); audited."""
    ident = g.identity
    row = store.enqueue(get_db(), _config(), org_id=ident.org_id, user_id=ident.user_id, kind=body.kind,
                        payload=body.payload, schedule=body.schedule, max_attempts=body.maxAttempts,
                        api_key_id=getattr(ident, "api_key_id", None), team_id=body.teamId, sharer=ident)
    return store.to_json(row), 201


@bp.get("")
@endpoint(permission("job", "read"), tag="jobs", query=JobFilter,
          response=obj(("data",), data={"type": "array", "items": ref("Job")}))
def list_jobs(args: JobFilter) -> ResponseReturnValue:
    """The org's jobs the caller may see, newest first."""
    rows = store.list_jobs(get_db(), g.identity.org_id, user_id=g.identity.user_id, status=args.status or None,
                           kind=args.kind or None, scheduled=args.scheduled, limit=args.limit)
    return {"data": [store.to_json(r) for r in rows]}


@bp.get("/<job_id>")
@endpoint(permission("job", "read"), tag="jobs", response=ref("Job"))
def get_job(job_id: str) -> ResponseReturnValue:
    """One job of the org, with its progress and last error."""
    return store.to_json(store.get(get_db(), g.identity.org_id, job_id, user_id=g.identity.user_id))


@bp.post("/<job_id>/cancel")
@endpoint(permission("job", "update"), tag="jobs", response=ref("Job"))
def cancel_job(job_id: str) -> ResponseReturnValue:
    """Cancel a queued or running job (409 job_state_conflict otherwise); audited."""
    return store.to_json(store.cancel(get_db(), g.identity.org_id, job_id, user_id=g.identity.user_id))


@bp.post("/<job_id>/retry")
@endpoint(permission("job", "update"), tag="jobs", response=ref("Job"))
def retry_job(job_id: str) -> ResponseReturnValue:
    """Queue a dead or canceled job again, attempts from zero (409 job_state_conflict otherwise); audited."""
    return store.to_json(store.retry(get_db(), g.identity.org_id, job_id, user_id=g.identity.user_id))


@bp.get("/<job_id>/results")
@endpoint(permission("job", "read"), tag="jobs", query=JobResultsPage,
          response=obj(("data",), data={"type": "array", "items": ref("JobResult")}))
def job_results(job_id: str, args: JobResultsPage) -> ResponseReturnValue:
    """A scheduled query's kept results, newest first (kept ATLAS_JOB_RESULT_TTL_S)"""
    rows = store.results(get_db(), g.identity.org_id, job_id, user_id=g.identity.user_id, limit=args.limit)
    return {"data": [store.result_json(r) for r in rows]}


@bp.post("/<job_id>/team")
@endpoint(permission("job", "update"), tag="jobs", body=JobTeam, response=ref("Job"))
def share_job(job_id: str, body: JobTeam) -> ResponseReturnValue:
    """Share a job with one team of the org, or (null) the whole org: its creator, owners and admins; audited"""
    return store.to_json(store.share(get_db(), g.identity.org_id, job_id, sharer=g.identity,
                                     team_id=body.teamId))
