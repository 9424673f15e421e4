"""Connection-pool totals as Prometheus series: never per org, whatever the registry holds.

The per-org registry (app/pools) knows its state only in the process that owns
it, so each process samples its own: at every scrape it answers, and under
atlas serve (multiprocess mode) every SAMPLE_INTERVAL_S from a thread of its own,
so a scrape answered by another worker sees figures at most that old. Gauges
are summed over live workers (`livesum`); the registry's monotonic counts
(capacity errors, evictions, connections opened) are added as they grow, so a
worker's share survives its exit.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Gauge

from app.ops.metrics import REGISTRY
from app.placement.router import PlacedSource
from app.pools import PoolRegistry

log = logging.getLogger("atlas.metrics")
SAMPLE_INTERVAL_S = 5.0


def _gauge(name: str, doc: str) -> Gauge:
    return Gauge(name, doc, registry=REGISTRY, multiprocess_mode="livesum")


OPEN = _gauge("atlas_pool_open_connections", "Database connections open (base pools and org pools)")
IN_USE = _gauge("atlas_pool_in_use_connections", "Database connections lent to a request right now")
WAITING = _gauge("atlas_pool_waiting_requests",
                 "Requests waiting for an org slot or a connection (shared mode: a lower bound)")
RESERVED = _gauge("atlas_pool_reserved_connections", "Connections reserved by admitted orgs and base pools")
MAX_TOTAL = _gauge("atlas_pool_max_connections", "The cap on connections (maxTotalConnections), per process")
ORGS = _gauge("atlas_pool_admitted_orgs", "Orgs holding a slot in the per-org pool LRU")
DEDICATED_OPEN = _gauge("atlas_pool_dedicated_open_connections",
                        "Connections open to orgs' dedicated databases (app/placement; outside maxTotalConnections)")
COUNTS = {
    "capacity_errors": Counter("atlas_pool_capacity_errors", "Requests refused: no org slot or capacity in time",
                               registry=REGISTRY),
    "evictions": Counter("atlas_pool_evictions", "Idle orgs evicted from the pool LRU", registry=REGISTRY),
    "connections_opened": Counter("atlas_pool_connections_opened", "Database connections opened by the pools",
                                  registry=REGISTRY),
}


@dataclass
class Sampler:
    """One app's last-seen counts (to add only growth) and its sampling thread, if any."""

    registry: PoolRegistry
    placement: PlacedSource | None = None  # the dedicated databases' pools
    seen: dict[str, int] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    thread: threading.Thread | None = None

    def sample(self) -> None:
        registry = self.registry
        snapshot = registry.snapshot()
        totals = snapshot["totals"]
        base_active, base_waiting = _sums(snapshot["base"])
        org_active, org_waiting = _sums(r for r in snapshot["orgs"] if r["state"] != "evicted")
        if registry.mode == "dedicated":  # org pools of their own: add them to the base pools
            in_use, waiting = base_active + org_active, base_waiting + org_waiting
        else:  # shared: org connections are the base pools' (counted there); waiters may be in both
            in_use, waiting = base_active, max(base_waiting, org_waiting)
        with self.lock:
            OPEN.set(totals["open_connections"])
            IN_USE.set(in_use)
            WAITING.set(totals["capacity_waiting"] + waiting)
            RESERVED.set(totals["reserved_connections"])
            MAX_TOTAL.set(registry.config.max_total_connections)
            ORGS.set(totals["orgs"])
            if self.placement is not None:
                DEDICATED_OPEN.set(sum(row["open_connections"] for row in self.placement.pool_rows()))
            for name, counter in COUNTS.items():
                grown = int(totals[name]) - self.seen.get(name, 0)
                if grown > 0:
                    counter.inc(grown)
                    self.seen[name] = int(totals[name])

    def start(self) -> None:
        """Sample every SAMPLE_INTERVAL_S from a thread (under atlas serve, in the worker, after the fork)."""
        self.thread = threading.Thread(target=self._run, name="atlas-pool-gauges", daemon=True)
        self.thread.start()

    def close(self) -> None:
        if self.thread is not None:
            self.stop.set()
            self.thread.join(timeout=SAMPLE_INTERVAL_S)
            self.thread = None

    def _run(self) -> None:
        while not self.stop.wait(SAMPLE_INTERVAL_S):
            try:
                self.sample()
            except Exception:  # a metrics failure must never take a worker down
                log.exception("sampling pool metrics failed")


def _sums(rows: Iterable[dict[str, Any]]) -> tuple[int, int]:
    """(connections lent, requests waiting) over snapshot rows."""
    active = waiting = 0
    for row in rows:
        active += int(row.get("active") or 0)
        waiting += int(row.get("waiting") or 0)
    return active, waiting
