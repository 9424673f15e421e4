"""What load balancers and Prometheus ask: GET /healthz, GET /readyz, GET /metrics.

None of them looks at a session (`sessionless`: no lookup, so no database
touch before the view). /healthz answers from the process alone; /readyz asks
the database (and Redis) through app/ops/readiness.py; /metrics wants
`Authorization: Bearer <METRICS_TOKEN>` and is off while no token is set.
"""
from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from app.api.spec.schemas import obj
from app.endpoint import endpoint
from app.errors import ForbiddenError, UnauthorizedError
from app.http import metrics as request_metrics
from app.http.context import services
from app.permissions import PUBLIC

bp = Blueprint("operations", __name__)
NOT_READY_RETRY_AFTER_S = 5


@bp.get("/healthz")
@endpoint(PUBLIC, tag="operations", response=obj(("status",), status={"type": "string", "enum": ["ok"]}),
          sessionless=True)
def healthz() -> ResponseReturnValue:
    """Liveness: the process answers (touches no database)

    Liveness: the process answers. Restart it when this fails, never because a dependency is down.

    With an agent replica, its last known state is reported (no probe: liveness asks no one).
    """
    replica = services().queries.replica
    if replica is None:
        return {"status": "ok"}
    last = replica.last_status()
    return {"status": "ok", "agentReplica": last.as_json() if last else {"status": "unknown"}}


@bp.get("/readyz")
@endpoint(PUBLIC, tag="operations",
          response=obj(("status", "checks"), status={"type": "string"}, checks={
            "type": "object", "additionalProperties": obj(
                ("status",), status={"type": "string", "enum": ["ok", "failed"]}, ms={"type": "number"},
                error={"type": "string"})}),
          sessionless=True)
def readyz() -> ResponseReturnValue:
    """Readiness: the database (and Redis, when the cache uses it) answered within READINESS_TIMEOUT_S; else
    503 not_ready with Retry-After, and checks naming what failed.

    Readiness: 200 when every dependency answers in time; else 503, Retry-After and the failed checks.

    The agent replica is reported beside the checks, never gating them: without it agent SQL falls
    back or is refused (ATLAS_AGENT_REPLICA_FALLBACK), and every other request is served as before.
    """
    checks = services().readiness.checks()
    body = {name: check.as_json() for name, check in checks.items()}
    failed = sorted(name for name, check in checks.items() if not check.ok)
    replica = services().queries.replica
    reported = {"agentReplica": replica.probe().as_json()} if replica is not None else {}
    if not failed:
        return {"status": "ready", "checks": body, **reported}
    message = "not ready: " + "; ".join(f"{name} {checks[name].error}" for name in failed)
    response = jsonify({"code": "not_ready", "message": message, "status": "not_ready",
                        "checks": body, **reported})
    response.status_code = 503
    response.headers["Retry-After"] = str(NOT_READY_RETRY_AFTER_S)
    return response


@bp.get("/metrics")
@endpoint(PUBLIC, tag="operations", response={"type": "string"}, media_type="text/plain", sessionless=True)
def metrics_exposition() -> ResponseReturnValue:
    """Prometheus metrics; needs Authorization: Bearer <METRICS_TOKEN> (not a session), off while unset.

    Prometheus text format, for a scraper holding METRICS_TOKEN.
    """
    token = services().settings.metrics.token
    if not token:
        raise ForbiddenError("metrics are off: set ATLAS_METRICS_TOKEN and scrape with that bearer token")
    supplied = request.headers.get("Authorization", "")
    scheme, _, credentials = supplied.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(credentials.strip().encode(), token.encode()):
        raise UnauthorizedError("metrics need Authorization: Bearer <ATLAS_METRICS_TOKEN>")
    payload, content_type = request_metrics.exposition(current_app)
    return Response(payload, status=200, content_type=content_type)
