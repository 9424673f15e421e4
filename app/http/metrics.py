"""The request side of the Prometheus metrics (app/ops/metrics.py declares the series).

Every request is counted by route (the URL rule, never the raw path), method
and status, with its latency, in the hooks below; every refusal by its error
code where errors are rendered (app/http/errors.py calls `refused`). A refusal
not rendered by api_errors reports in one line:

    request_metrics.refused("too_many_concurrent_queries")

Per-org series (`atlas_org_*`) exist only when ATLAS_METRICS_ORG_LABELS is on.
"""
from __future__ import annotations

import functools
import time

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from app.acting import acting
from app.http.context import services
from app.ops.metrics import (
    AGENT_QUERIES_IN_FLIGHT,
    LATENCY,
    MULTIPROCESS,
    ORG_REFUSALS,
    ORG_REQUESTS,
    REFUSALS,
    REGISTRY,
    REQUESTS,
    forget_dead_workers,
)

AGENT_QUERY_ENDPOINTS = frozenset({"query.query"})
UNMATCHED_ROUTE = "unmatched"  # 404/405 for paths no rule matches: never the raw path
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def refused(reason: str) -> None:
    """Count one refusal by its stable error code (a bounded set: never put ids or text here)."""
    REFUSALS.labels(reason).inc()
    org = _org_label()
    if org is not None:
        ORG_REFUSALS.labels(org, reason).inc()


def exposition(app: Flask) -> tuple[bytes, str]:
    """The text a scrape gets: every worker's series (multiprocess) or this process's."""
    services(app).pool_gauges.sample()  # this worker's pools, fresh; the others' are at most a few seconds old
    replica = services(app).queries.replica
    if replica is not None:
        replica.probe()  # its gauges, at most PROBE_TTL_S old
    if not MULTIPROCESS:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    forget_dead_workers()
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)
    return generate_latest(merged), CONTENT_TYPE_LATEST


def route_label() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED_ROUTE


def _method_label() -> str:
    return request.method if request.method in _METHODS else "OTHER"


def _org_label() -> str | None:
    """The caller's org id, only when an operator turned ATLAS_METRICS_ORG_LABELS on."""
    try:
        if not g.get("metrics_org_labels"):  # set per request by _started, from ATLAS_METRICS_ORG_LABELS
            return None
    except RuntimeError:  # outside a request (MCP over stdio, a job): no org label
        return None
    org = acting().org_id  # the request's org, or an MCP tool call's
    return None if org is None else str(org)


def _started(*, org_labels: bool) -> None:
    g.metrics_started_at = time.perf_counter()
    g.metrics_org_labels = org_labels
    if request.endpoint in AGENT_QUERY_ENDPOINTS:
        AGENT_QUERIES_IN_FLIGHT.inc()
        g.metrics_in_flight = True


def _answered(response: Response) -> Response:
    route, method, status = route_label(), _method_label(), str(response.status_code)
    REQUESTS.labels(route, method, status).inc()
    started = g.get("metrics_started_at")
    if started is not None:
        LATENCY.labels(route, method).observe(time.perf_counter() - started)
    org = _org_label()
    if org is not None:
        ORG_REQUESTS.labels(org, route, status).inc()
    return response


def _finished(_exc: BaseException | None) -> None:
    if g.pop("metrics_in_flight", False):
        AGENT_QUERIES_IN_FLIGHT.dec()


def init_app(app: Flask, *, org_labels: bool) -> None:
    """Register before every other hook, so a request's latency includes its session lookup."""
    app.before_request(functools.partial(_started, org_labels=org_labels))
    app.after_request(_answered)
    app.teardown_request(_finished)
