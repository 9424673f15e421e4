"""Admission, written once for both modes: which org may hold a unit now, and what its use cost.

An org's unit for a datasource is looked up in an LRU of at most
pool.perOrg.maxOrgs orgs. A new unit reserves `reserve` connections against
maxTotalConnections and is built by the mode (a pool of its own, or nothing for
a quota) outside the lock. With no room left, the least recently used idle org
is evicted, never one with a request in flight; when none goes idle before the
deadline, PoolCapacityExceededError (503). Releasing a unit counts its failures
and, after pool.perOrg.drainThreshold consecutive ones, records a drain (and in
dedicated mode retires the unit, so its pool is closed by its last holder).
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable

from app.db.refusals import is_connection_failure
from app.errors import ServiceUnavailableError
from app.errors.database import DatabaseUnavailableError, PoolCapacityExceededError
from app.errors.query import ConnectionFailedError
from app.pools.config import PerOrgLimits, PoolConfig
from app.pools.lru import OrgLRU
from app.pools.metrics import Stats, utc_now
from app.pools.units import Entry, Unit

log = logging.getLogger("atlas.pools")

Build = Callable[[Unit, float], None]  # the mode's work to make a new org unit usable (unit, deadline)


class Admission:
    """The org LRU, the one lock around every unit's counters, and the counters that outlive units."""

    def __init__(self, config: PoolConfig, *, base: Iterable[Unit], reserve: int, retire_on_drain: bool) -> None:
        self.config = config
        self.limits = config.per_org
        self.lock = threading.Lock()
        self._room = threading.Condition(self.lock)  # an org became idle or capacity was freed
        self.history: OrderedDict[tuple[uuid.UUID, str], Stats] = OrderedDict()
        self._history_limit = max(1000, 10 * (self.limits.max_orgs if self.limits else 0))
        self.capacity_waiters = 0
        self.capacity_errors = 0
        self.opened_by_closed = 0  # connections opened by pools already closed
        self.drains: deque[dict[str, str]] = deque(maxlen=100)
        # Without pool.perOrg only orgs' own datasources are admitted here, under the default maxOrgs.
        self.lru = OrgLRU(max_orgs=(self.limits or PerOrgLimits()).max_orgs,
                          max_total=config.max_total_connections,
                          base_reserved=sum(u.reserved for u in base))
        self._reserve = reserve
        self._retire_on_drain = retire_on_drain

    # ----- taking a unit -------------------------------------------------------------------
    def admit(self, org: uuid.UUID, datasource: str, deadline: float, *, build: Build,
              external: tuple[str, int] | None = None) -> Unit:
        """The org's unit for this datasource, held once; evicts or waits for room if needed.

        `external` = (source, size) admits a pool of the org's own datasource: it reserves
        `size` connections in every mode, and a unit built from another source is retired.
        Raises PoolCapacityExceededError (no room in time), or ServiceUnavailableError
        (the unit could not be built, or another request's build of it failed or is too slow).
        """
        counted = False
        reserve = external[1] if external else self._reserve
        while True:
            victim: Entry | None = None
            stale: Unit | None = None
            fresh = False
            with self.lock:
                stats = self._stats_for(org, datasource)
                if not counted:
                    stats.requests += 1
                    counted = True
                unit = self.lru.lookup(org, datasource)
                if unit is not None and external and unit.source != external[0]:
                    self.lru.retire(unit)  # the connection was edited: its old pool serves no one new
                    if unit.holders == 0 and not unit.disposed:
                        unit.disposed = True
                        stale = unit
                    unit = None
                if stale is not None:
                    pass  # disposed below, outside the lock; then look again
                elif unit is not None:
                    unit.holders += 1
                else:
                    blocked = self.lru.blocked(org, reserve=reserve)
                    if blocked is None:
                        unit = self.lru.insert(org, datasource, stats, reserve=reserve,
                                               limit=external[1] if external else self._org_limit())
                        if external:
                            unit.external, unit.source = True, external[0]
                        fresh = True
                    else:
                        victim = self.lru.pick_victim(exclude=org)
                        if victim is None:
                            self._wait_for_room(org, datasource, stats, deadline, blocked)
                            continue
                        self.lru.evict(victim)
            if stale is not None:
                self.dispose(stale)
                continue
            if victim is not None:
                for evicted in victim.units.values():
                    self.dispose(evicted)
                continue
            assert unit is not None
            if fresh:
                self._build_or_fail(unit, deadline, build)
            else:
                self._await_built(unit, deadline)
            return unit

    def retire(self, org: uuid.UUID, datasource: str) -> None:
        """Take the org's unit for this datasource out now; closed at once if idle, else by its last holder."""
        dispose = None
        with self.lock:
            entry = self.lru.entries.get(org)
            unit = entry.units.get(datasource) if entry else None
            if unit is None:
                return
            self.lru.retire(unit)
            if unit.holders == 0 and not unit.disposed:
                unit.disposed = True
                dispose = unit
        if dispose is not None:
            self.dispose(dispose)

    def _org_limit(self) -> int:
        assert self.limits is not None
        return self.limits.max_connections

    def hold(self, unit: Unit) -> None:
        """A base unit needs no admission, only its counters."""
        with self.lock:
            unit.holders += 1
            unit.stats.requests += 1

    def _wait_for_room(self, org: uuid.UUID, datasource: str, stats: Stats, deadline: float, blocked: str) -> None:
        """Under the lock: wait for an org to go idle, or raise PoolCapacityExceededError."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            stats.errors += 1
            self.capacity_errors += 1
            raise PoolCapacityExceededError(self._capacity_message(org, datasource, blocked))
        self.capacity_waiters += 1
        try:
            self._room.wait(remaining)
        finally:
            self.capacity_waiters -= 1

    def _capacity_message(self, org: uuid.UUID, datasource: str, blocked: str) -> str:
        if datasource.startswith("connection:"):  # an org's own datasource (app/connections)
            return (
                f"cannot open a pool for org {org}'s {datasource}: {blocked} reached and every one of the"
                f" {len(self.lru.entries)} admitted orgs stayed busy for {self.config.timeout_ms} ms"
                f" ({self.lru.reserved} of maxTotalConnections={self.config.max_total_connections} connections"
                f" reserved; pool.orgDatasources.maxConnections={self.config.org_datasource_max_connections},"
                f" pool.orgDatasources.reserved={self.config.org_datasource_reserved}). Raise maxTotalConnections"
                " or pool.orgDatasources.reserved, or lower pool.orgDatasources.maxConnections")
        assert self.limits is not None
        return (
            f"cannot admit org {org} on datasource {datasource!r}: {blocked} reached and every one of"
            f" the {len(self.lru.entries)} admitted orgs stayed busy for {self.config.timeout_ms} ms"
            f" ({self.lru.reserved} of maxTotalConnections={self.config.max_total_connections} connections"
            f" reserved; pool.perOrg.maxOrgs={self.limits.max_orgs},"
            f" pool.perOrg.maxConnections={self.limits.max_connections}). Lower pool.perOrg.maxConnections"
            " or pool.perOrg.maxOrgs, or raise maxTotalConnections")

    def _build_or_fail(self, unit: Unit, deadline: float, build: Build) -> None:
        try:
            build(unit, deadline)
        except BaseException as exc:
            unit.error = exc
            with self.lock:
                self.lru.detach(unit)
                self.lru.free(unit)
                unit.holders -= 1
                unit.stats.errors += 1
                unit.stats.failures += 1
                unit.stats.consecutive_failures += 1
                self._room.notify_all()
            unit.built.set()
            if isinstance(exc, (DatabaseUnavailableError, ConnectionFailedError)):
                raise
            raise ServiceUnavailableError(
                f"could not open a pool for org {unit.org_id} on datasource {unit.datasource!r}: {exc}") from exc
        unit.built.set()

    def _await_built(self, unit: Unit, deadline: float) -> None:
        """Another request is creating this unit: wait for it, or give up with it."""
        if unit.built.wait(max(deadline - time.monotonic(), 0)) and unit.error is None:
            return
        with self.lock:
            unit.holders -= 1
            self._room.notify_all()
        raise ServiceUnavailableError(
            f"the pool for org {unit.org_id} on datasource {unit.datasource!r} could not be opened"
            f" within {self.config.timeout_ms} ms (pool.timeoutMs)") from unit.error

    # ----- using and giving back -----------------------------------------------------------
    def lent(self, unit: Unit) -> None:
        with self.lock:
            unit.active += 1
            unit.stats.checkouts += 1

    def returned(self, unit: Unit, *, statements: int) -> None:
        with self.lock:
            unit.active -= 1
            unit.stats.statements += statements

    def release(self, unit: Unit, error: BaseException | None, *, broken: bool) -> None:
        """Let go of a held unit, counting the outcome; the last holder of a retired unit disposes it."""
        failed = broken or is_connection_failure(error)
        dispose = False
        with self.lock:
            stats = unit.stats
            if error is not None:
                stats.errors += 1
            if failed:
                stats.failures += 1
                stats.consecutive_failures += 1
                if unit.org_id is not None and self.limits and \
                        stats.consecutive_failures >= self.limits.drain_threshold:
                    self._drain(unit, error)
            else:
                stats.consecutive_failures = 0
            unit.holders -= 1
            if unit.holders == 0:
                if unit.retired and not unit.disposed:
                    unit.disposed = dispose = True
                elif self.capacity_waiters:
                    self._room.notify_all()
        if dispose:
            self.dispose(unit)

    def _drain(self, unit: Unit, error: BaseException | None) -> None:
        """Under the lock: record the drain and reset the count; retire the unit if the mode closes pools."""
        cause = f"{type(error).__name__}: {error}" if error else "connection came back broken"
        record = {
            "at": utc_now(),
            "org_id": str(unit.org_id),
            "datasource": unit.datasource,
            "reason": f"{unit.stats.consecutive_failures} consecutive failures; last: {cause}"[:300],
        }
        unit.stats.drains.append(record)
        self.drains.append(record)
        unit.stats.consecutive_failures = 0
        log.warning("draining org %s on %s: %s", unit.org_id, unit.datasource, record["reason"])
        if self._retire_on_drain:  # out of the LRU now, closed when its last holder leaves
            self.lru.retire(unit)

    def dispose(self, unit: Unit) -> None:
        """Close a retired unit's pool (outside the lock), then free its reservation."""
        opened = 0
        if unit.pool is not None:
            opened = unit.pool.get_stats().get("connections_num", 0)
            unit.pool.close()
        with self.lock:
            unit.stats.connections_opened += opened
            self.opened_by_closed += opened
            self.lru.free(unit)
            self._room.notify_all()

    def take_all(self) -> list[Unit]:
        """Every org unit, live or retiring, out of the LRU: for closing the registry."""
        with self.lock:
            units = [*self.lru.live_units(), *self.lru.retiring]
            self.lru.entries.clear()
            self.lru.retiring.clear()
        return units

    def _stats_for(self, org: uuid.UUID, datasource: str) -> Stats:
        key = (org, datasource)
        stats = self.history.get(key)
        if stats is None:
            stats = self.history[key] = Stats()
            while len(self.history) > self._history_limit:
                self.history.popitem(last=False)
        else:
            self.history.move_to_end(key)
        stats.last_used = time.time()
        return stats
