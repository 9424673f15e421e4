"""Prometheus metrics: what operators watch, with no tenant in a label unless they ask.

The series are declared here, once, with the functions code below the HTTP
layer reports through: agent queries in flight and where they ran, the agent's
asks, tokens and tool calls; pool totals (app/ops/pool_gauges.py). The request
hooks, the refusal counter and the scrape's text live in the HTTP layer
(app/http/metrics.py). Other code reports in one line:

    with metrics.agent_query_in_flight(): ...        # agent work outside POST /api/v1/query

Under `atlas serve` (several granian workers) prometheus_client runs in its
multiprocess mode: PROMETHEUS_MULTIPROC_DIR is set by app/cli.py before this
module is first imported, every worker writes its values to files there, and
a scrape sums them, so a scrape answered by any worker sees them all. The
live gauges of a worker that died (killed, then replaced) are dropped by the
next scrape or the next worker to start (`forget_dead_workers`).
Per-org series (`atlas_org_*`) exist only when METRICS_ORG_LABELS is on.
"""
from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    values,
)

from app.config import metrics_directory

# Its own registry (not prometheus_client's global one): only Atlas's series, the same in both modes.
REGISTRY = CollectorRegistry()
MULTIPROCESS = values.ValueClass is not values.MutexValue  # decided when prometheus_client was imported
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter("atlas_http_requests", "HTTP requests answered, by route (URL rule), method and status",
                   ("route", "method", "status"), registry=REGISTRY)
LATENCY = Histogram("atlas_http_request_duration_seconds", "Time to answer a request, by route and method",
                    ("route", "method"), buckets=LATENCY_BUCKETS_S, registry=REGISTRY)
REFUSALS = Counter("atlas_refusals", "Requests refused on purpose (4xx and 503), by error code",
                   ("reason",), registry=REGISTRY)
AGENT_QUERIES_IN_FLIGHT = Gauge("atlas_agent_queries_in_flight", "Agent queries being answered now",
                                registry=REGISTRY, multiprocess_mode="livesum")
AGENT_QUERIES_ROUTED = Counter("atlas_agent_queries_routed", "Agent queries by where they ran: replica, primary "
                               "(the replica's fallback) or refused (no replica within ATLAS_AGENT_MAX_LAG_S)",
                               ("target",), registry=REGISTRY)
AGENT_REPLICA_UP = Gauge("atlas_agent_replica_up", "1 when the agent replica answered as a standby, else 0",
                         registry=REGISTRY, multiprocess_mode="max")
AGENT_REPLICA_LAG = Gauge("atlas_agent_replica_lag_seconds", "The agent replica's replay lag when last read",
                          registry=REGISTRY, multiprocess_mode="max")
ORG_REQUESTS = Counter("atlas_org_http_requests", "Requests by org id, route and status (METRICS_ORG_LABELS only)",
                       ("org_id", "route", "status"), registry=REGISTRY)
ORG_REFUSALS = Counter("atlas_org_refusals", "Refusals by org id and error code (METRICS_ORG_LABELS only)",
                       ("org_id", "reason"), registry=REGISTRY)

# The analytics agent (app/agent), platform-wide: per-org figures are in agent_usage and its endpoints.
AGENT_ASKS = Counter("atlas_agent_asks", "Questions the agent finished, by outcome (answered or a stable code)",
                     ("outcome",), registry=REGISTRY)
AGENT_ASK_DURATION = Histogram("atlas_agent_ask_duration_seconds", "Time to finish a question",
                               buckets=LATENCY_BUCKETS_S + (60.0, 120.0), registry=REGISTRY)
AGENT_TOKENS = Counter("atlas_agent_tokens", "Model tokens the agent spent, by kind (prompt, completion)",
                       ("kind",), registry=REGISTRY)
AGENT_TOOL_CALLS = Counter("atlas_agent_tool_calls", "Tool calls the agent made, by tool and outcome (ok, refused)",
                           ("tool", "outcome"), registry=REGISTRY)


def agent_ask_finished(outcome: str, *, seconds: float) -> None:
    """One question finished; `outcome` is "answered" or an error code (a bounded set)."""
    AGENT_ASKS.labels(outcome).inc()
    AGENT_ASK_DURATION.observe(seconds)


def agent_tokens(prompt: int, completion: int) -> None:
    AGENT_TOKENS.labels("prompt").inc(prompt)
    AGENT_TOKENS.labels("completion").inc(completion)


def agent_tool_call(tool: str, outcome: str) -> None:
    """`tool`: one of the MCP tools' names or "unknown" (never a model's text)."""
    AGENT_TOOL_CALLS.labels(tool, outcome).inc()


@contextmanager
def agent_query_in_flight() -> Iterator[None]:
    """Hold the in-flight gauge up while agent work runs (HTTP queries are counted by the hooks)."""
    AGENT_QUERIES_IN_FLIGHT.inc()
    try:
        yield
    finally:
        AGENT_QUERIES_IN_FLIGHT.dec()


def agent_query_routed(target: str) -> None:
    """Count one agent query by where it ran (replica, primary, refused)."""
    AGENT_QUERIES_ROUTED.labels(target).inc()


def agent_replica(*, up: bool, lag_s: float | None) -> None:
    """The agent replica's last known state (app/replica.py)."""
    AGENT_REPLICA_UP.set(1 if up else 0)
    if lag_s is not None:
        AGENT_REPLICA_LAG.set(lag_s)


def forget_dead_workers() -> None:
    """Drop the live gauges of workers that are gone (their counters stay in the sums).

    Whatever ended them (SIGKILL included), their files remain; the server gives no hook
    in the master, so this runs where it is cheap and certain: in each worker at start-up
    and on every scrape.
    """
    directory = metrics_directory()
    if not MULTIPROCESS or not directory:
        return
    pids: set[int] = set()
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        digits = path.rsplit("_", 1)[1].removesuffix(".db")
        if digits.isdigit():
            pids.add(int(digits))
    for pid in pids:
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, directory)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


