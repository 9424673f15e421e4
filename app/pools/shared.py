"""`shared` mode: one physical pool per datasource, per-org admission quotas on top.

The org setting is transaction-local (SET LOCAL), so a physical connection
need not belong to one org. Each org may hold at most pool.perOrg.maxConnections
of the shared connections at once; that is the noisy-neighbour protection,
without opening or closing a connection when an org comes or goes.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from app.errors import ServiceUnavailableError
from app.pools.registry import PoolRegistry
from app.pools.units import Unit, too_many_waiting


class SharedRegistry(PoolRegistry):
    """Org units are quotas (a counter and a queue) kept in the same LRU; drains close nothing."""

    mode = "shared"
    base_what = "the shared pool of datasource {datasource!r}"
    base_hint = "raise maxTotalConnections (ATLAS_MAX_TOTAL_CONNECTIONS) or pool.timeoutMs (ATLAS_POOL_TIMEOUT_S)"

    def _base_size(self) -> int:
        return self.config.shared_pool_size if self.limits else self.config.base_max_connections

    def _unit_reserve(self) -> int:
        return 0  # the shared pools are already counted in full

    def _build(self, unit: Unit, deadline: float) -> None:
        """A quota needs no I/O: the Unit's counters are all there is."""

    @contextmanager
    def _connect_org(self, unit: Unit, *, deadline: float) -> Iterator[psycopg.Connection]:
        base = self._base[unit.datasource]
        lock = self.admission.lock
        self._take_slot(unit, deadline)
        try:
            with self._from_base(unit.datasource, deadline=deadline) as conn:
                with lock:
                    base.active += 1
                try:
                    yield conn
                finally:
                    with lock:
                        base.active -= 1
        finally:
            self._give_slot(unit)

    def _take_slot(self, unit: Unit, deadline: float) -> None:
        """One of the org's pool.perOrg.maxConnections slots, first come first served, or a 503
        (at once when pool.perOrg.maxWaiting of its requests already wait)."""
        with self.admission.lock:
            if unit.granted < unit.limit and not unit.queue:
                unit.granted += 1
                return
            assert self.limits is not None
            if len(unit.queue) >= self.limits.waiting_limit:
                raise too_many_waiting(unit, self.limits.waiting_limit)
            ticket = threading.Event()
            unit.queue.append(ticket)
        ticket.wait(max(deadline - time.monotonic(), 0))
        with self.admission.lock:
            if ticket.is_set():  # handed over by _give_slot, possibly just after the timeout
                return
            unit.queue.remove(ticket)
        raise ServiceUnavailableError(
            f"org {unit.org_id} already uses {unit.limit} connections on datasource {unit.datasource!r}"
            f" (pool.perOrg.maxConnections) and none came free within {self.config.timeout_ms} ms;"
            " raise pool.perOrg.maxConnections or pool.timeoutMs")

    def _give_slot(self, unit: Unit) -> None:
        """Hand the slot straight to the longest waiter, so a newcomer cannot jump the queue."""
        with self.admission.lock:
            if unit.queue:
                unit.queue.popleft().set()
            else:
                unit.granted -= 1
