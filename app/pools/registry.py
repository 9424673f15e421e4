"""The connection registry: every connection to a datasource, for every org, comes from here.

`connection(org_id, datasource)` yields an autocommit connection; the caller
(app/db.py's door) opens the org-scoped transaction on it. Orgs are admitted
through an LRU of at most `pool.perOrg.maxOrgs` entries; the least recently
used idle org is evicted to make room, never one with a request in flight.
When no org is idle until pool.timeoutMs, PoolCapacityExceededError (503).
Subclasses decide what an org's Unit is: a pool of its own (dedicated) or a
quota on one shared pool per datasource (shared).
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg

from app.db import as_org_id
from app.errors import (
    ConfigurationError,
    DatabaseUnavailableError,
    PoolCapacityExceededError,
    ServiceUnavailableError,
)
from app.pools.config import PoolConfig
from app.pools.lru import OrgLRU
from app.pools.metrics import Stats, statements_of, utc_now
from app.pools.units import Entry, Unit, is_failure

log = logging.getLogger("atlas.pools")


class PoolRegistry:
    """Base pools per datasource plus the org LRU; see DedicatedRegistry and SharedRegistry."""

    mode = "base"

    def __init__(self, config: PoolConfig) -> None:
        self.config = config
        self.limits = config.per_org
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)  # an org became idle or capacity was freed
        self._history: OrderedDict[tuple[uuid.UUID, str], Stats] = OrderedDict()
        self._history_limit = max(1000, 10 * (self.limits.max_orgs if self.limits else 0))
        self._capacity_waiters = 0
        self._capacity_errors = 0
        self._opened_by_closed = 0
        self._drains: deque[dict[str, str]] = deque(maxlen=100)
        self.opened = False
        self._base = {ds: self._make_base(ds, url) for ds, url in config.datasources.items()}
        self._lru = OrgLRU(max_orgs=self.limits.max_orgs if self.limits else 0,
                           max_total=config.max_total_connections,
                           base_reserved=sum(u.reserved for u in self._base.values()))

    # ----- hooks ---------------------------------------------------------------------------
    def _make_base(self, datasource: str, url: str) -> Unit:
        raise NotImplementedError

    def _unit_reserve(self) -> int:
        """Connections a new org unit adds to the reserved total."""
        raise NotImplementedError

    def _build(self, unit: Unit, *, deadline: float) -> None:
        """Make a new org unit usable (outside the lock)."""
        raise NotImplementedError

    def _connect(self, unit: Unit, *, deadline: float) -> AbstractContextManager[psycopg.Connection]:
        raise NotImplementedError

    def _drain(self, unit: Unit) -> None:
        """Under the lock, after drainThreshold consecutive failures."""
        raise NotImplementedError

    # ----- lifecycle -----------------------------------------------------------------------
    def open(self, *, warmup: bool = True) -> PoolRegistry:
        """Open the base pools; with warmup, probe each (pool.perOrg.warmupProbes times)."""
        probes = self.limits.warmup_probes if (warmup and self.limits) else 0
        self.opened = True
        for unit in self._base.values():
            assert unit.pool is not None
            unit.pool.open(wait=False)
            for _ in range(probes):
                with unit.pool.connection() as conn:
                    conn.execute("SELECT 1")
        return self

    def close(self) -> None:
        with self._lock:
            units = [*self._lru.live_units(), *self._lru.retiring, *self._base.values()]
            self._lru.entries.clear()
            self._lru.retiring.clear()
        for unit in units:
            if unit.pool is not None:
                unit.pool.close()

    def __enter__(self) -> PoolRegistry:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- the door ------------------------------------------------------------------------
    @contextmanager
    def connection(self, org_id: object, datasource: str = "default") -> Iterator[psycopg.Connection]:
        """An autocommit connection for one org; open the org-scoped transaction on it.

        Raises MissingOrgError (no valid org, before any I/O), PoolCapacityExceededError
        (no org slot or capacity free in time) or ServiceUnavailableError (no connection in time).
        """
        org = as_org_id(org_id)
        base = self._base_for(datasource)
        if self.limits is None:  # without pool.perOrg every org shares the base pool
            with self.base_connection(datasource) as conn:
                yield conn
            return
        deadline = time.monotonic() + self.config.timeout_s
        unit = self._admit(org, base.datasource, deadline)
        with self._use(unit, deadline) as conn:
            yield conn

    @contextmanager
    def base_connection(self, datasource: str = "default") -> Iterator[psycopg.Connection]:
        """A connection from the base pool, for work with no org (sign-in, session lookup)."""
        unit = self._base_for(datasource)
        with self._lock:
            unit.holders += 1
            unit.stats.requests += 1
        with self._use(unit, time.monotonic() + self.config.timeout_s) as conn:
            yield conn

    def _base_for(self, datasource: str) -> Unit:
        try:
            return self._base[datasource]
        except KeyError:
            raise ConfigurationError(
                f"unknown datasource {datasource!r}; configured: {', '.join(sorted(self._base))}"
                " (datasources in atlas.yaml)") from None

    @contextmanager
    def _use(self, unit: Unit, deadline: float) -> Iterator[psycopg.Connection]:
        """Check a connection out of an admitted unit; record the outcome; release the unit."""
        error: BaseException | None = None
        broken = False
        try:
            with self._connect(unit, deadline=deadline) as conn:
                before = statements_of(conn)
                with self._lock:
                    unit.active += 1
                    unit.stats.checkouts += 1
                try:
                    yield conn
                finally:
                    broken = conn.broken
                    with self._lock:
                        unit.active -= 1
                        unit.stats.statements += statements_of(conn) - before
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._finish(unit, error, broken=broken)

    # ----- admission -----------------------------------------------------------------------
    def _admit(self, org: uuid.UUID, datasource: str, deadline: float) -> Unit:
        """The org's unit for this datasource, holding it; evicts or waits for room if needed."""
        counted = False
        while True:
            victim: Entry | None = None
            build = False
            with self._lock:
                stats = self._stats_for(org, datasource)
                if not counted:
                    stats.requests += 1
                    counted = True
                unit = self._lru.lookup(org, datasource)
                if unit is not None:
                    unit.holders += 1
                else:
                    blocked = self._lru.blocked(org, reserve=self._unit_reserve())
                    if blocked is None:
                        assert self.limits is not None
                        unit = self._lru.insert(org, datasource, stats, reserve=self._unit_reserve(),
                                                limit=self.limits.max_connections)
                        build = True
                    else:
                        victim = self._lru.pick_victim(exclude=org)
                        if victim is None:
                            self._wait_for_room(org, datasource, stats, deadline, blocked)
                            continue
                        self._lru.evict(victim)
            if victim is not None:
                for evicted in victim.units.values():
                    self._dispose(evicted)
                continue
            assert unit is not None
            if build:
                self._build_or_fail(unit, deadline)
            else:
                self._await_built(unit, deadline)
            return unit

    def _wait_for_room(self, org: uuid.UUID, datasource: str, stats: Stats, deadline: float, blocked: str) -> None:
        """Under the lock: wait for an org to go idle, or raise PoolCapacityExceededError."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            stats.errors += 1
            self._capacity_errors += 1
            raise PoolCapacityExceededError(self._capacity_message(org, datasource, blocked))
        self._capacity_waiters += 1
        try:
            self._room.wait(remaining)
        finally:
            self._capacity_waiters -= 1

    def _capacity_message(self, org: uuid.UUID, datasource: str, blocked: str) -> str:
        assert self.limits is not None
        return (
            f"cannot admit org {org} on datasource {datasource!r}: {blocked} reached and every one of"
            f" the {len(self._lru.entries)} admitted orgs stayed busy for {self.config.timeout_ms} ms"
            f" ({self._lru.reserved} of maxTotalConnections={self.config.max_total_connections} connections"
            f" reserved; pool.perOrg.maxOrgs={self.limits.max_orgs},"
            f" pool.perOrg.maxConnections={self.limits.max_connections}). Lower pool.perOrg.maxConnections"
            " or pool.perOrg.maxOrgs, or raise maxTotalConnections")

    def _build_or_fail(self, unit: Unit, deadline: float) -> None:
        try:
            self._build(unit, deadline=deadline)
        except BaseException as exc:
            unit.error = exc
            with self._lock:
                self._lru.detach(unit)
                self._lru.free(unit)
                unit.holders -= 1
                unit.stats.errors += 1
                unit.stats.failures += 1
                unit.stats.consecutive_failures += 1
                self._room.notify_all()
            unit.built.set()
            if isinstance(exc, DatabaseUnavailableError):
                raise
            raise ServiceUnavailableError(
                f"could not open a pool for org {unit.org_id} on datasource {unit.datasource!r}: {exc}") from exc
        unit.built.set()

    def _await_built(self, unit: Unit, deadline: float) -> None:
        """Another request is creating this unit: wait for it, or give up with it."""
        if unit.built.wait(max(deadline - time.monotonic(), 0)) and unit.error is None:
            return
        with self._lock:
            unit.holders -= 1
            self._room.notify_all()
        raise ServiceUnavailableError(
            f"the pool for org {unit.org_id} on datasource {unit.datasource!r} could not be opened"
            f" within {self.config.timeout_ms} ms (pool.timeoutMs)") from unit.error

    # ----- release, failures, drains -------------------------------------------------------
    def _finish(self, unit: Unit, error: BaseException | None, *, broken: bool) -> None:
        failed = broken or is_failure(error)
        dispose = False
        with self._lock:
            stats = unit.stats
            if error is not None:
                stats.errors += 1
            if failed:
                stats.failures += 1
                stats.consecutive_failures += 1
                if unit.org_id is not None and self.limits and \
                        stats.consecutive_failures >= self.limits.drain_threshold:
                    self._record_drain(unit, error)
            else:
                stats.consecutive_failures = 0
            unit.holders -= 1
            if unit.holders == 0:
                if unit.retired and not unit.disposed:
                    unit.disposed = dispose = True
                elif self._capacity_waiters:
                    self._room.notify_all()
        if dispose:
            self._dispose(unit)

    def _record_drain(self, unit: Unit, error: BaseException | None) -> None:
        cause = f"{type(error).__name__}: {error}" if error else "connection came back broken"
        record = {
            "at": utc_now(),
            "org_id": str(unit.org_id),
            "datasource": unit.datasource,
            "reason": f"{unit.stats.consecutive_failures} consecutive failures; last: {cause}"[:300],
        }
        unit.stats.drains.append(record)
        self._drains.append(record)
        unit.stats.consecutive_failures = 0
        log.warning("draining org %s on %s: %s", unit.org_id, unit.datasource, record["reason"])
        self._drain(unit)

    def _dispose(self, unit: Unit) -> None:
        """Close a retired unit's pool (outside the lock), then free its reservation."""
        opened = 0
        if unit.pool is not None:
            opened = unit.pool.get_stats().get("connections_num", 0)
            unit.pool.close()
        with self._lock:
            unit.stats.connections_opened += opened
            self._opened_by_closed += opened
            self._lru.free(unit)
            self._room.notify_all()

    def _stats_for(self, org: uuid.UUID, datasource: str) -> Stats:
        key = (org, datasource)
        stats = self._history.get(key)
        if stats is None:
            stats = self._history[key] = Stats()
            while len(self._history) > self._history_limit:
                self._history.popitem(last=False)
        else:
            self._history.move_to_end(key)
        stats.last_used = time.time()
        return stats

    def snapshot(self, org_id: object = None) -> dict[str, Any]:
        """JSON-able metrics: every org (org_id=None) or one org's units plus base-pool totals."""
        from app.pools.snapshot import build_snapshot

        return build_snapshot(self, None if org_id is None else as_org_id(org_id))
