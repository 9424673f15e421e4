"""What the registry holds: a Unit per (org, datasource) or per base pool, grouped by org."""
from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout, TooManyRequests

from app.db.checked_pool import CheckedPool, wait_timed_out
from app.errors import ServiceUnavailableError
from app.pools.metrics import CountedConnection, CountingCursor, Stats


class Unit:
    """One org's share of one datasource: its own pool (dedicated) or a quota (shared).

    Base pools are Units with no org. `holders` counts admitted requests, waiting
    or served; a Unit with holders is never closed. A retired Unit (evicted or
    drained) is closed by whoever brings holders to zero.
    """

    def __init__(self, org_id: uuid.UUID | None, datasource: str, stats: Stats, *,
                 reserved: int, generation: int, limit: int) -> None:
        self.org_id = org_id
        self.datasource = datasource
        self.stats = stats
        self.reserved = reserved  # connections counted against maxTotalConnections
        self.generation = generation
        self.limit = limit  # most connections this unit may hold at once
        self.holders = 0
        self.active = 0  # connections checked out right now
        self.granted = 0  # shared mode: quota slots taken (a connection follows)
        self.pool: ConnectionPool | None = None
        self.built = threading.Event()
        self.error: BaseException | None = None
        self.retired = False
        self.disposed = False
        self.created_at = time.time()
        self.queue: deque[threading.Event] = deque()  # shared mode: requests waiting for a slot
        # An org's own datasource (app/connections): always a pool of its own, built from `source`
        # (the connection's id and version); a unit whose source changed is retired, never reused.
        self.external = False
        self.source: str | None = None


class Entry:
    """An org's units, one per datasource it used; the LRU moves whole entries."""

    def __init__(self, org_id: uuid.UUID) -> None:
        self.org_id = org_id
        self.units: dict[str, Unit] = {}

    def idle(self) -> bool:
        return all(u.holders == 0 and u.built.is_set() for u in self.units.values())


def application_name(org_id: uuid.UUID | None, datasource: str) -> str:
    """Visible in pg_stat_activity, so an operator sees which org holds a connection."""
    owner = "base" if org_id is None else str(org_id)
    return f"atlas:{owner}:{datasource}"[:63]


def make_pool(conninfo: str, *, name: str, min_size: int, max_size: int, timeout_s: float,
              max_idle_s: float, num_workers: int, max_waiting: int = 0) -> ConnectionPool:
    """An unopened pool of autocommit connections that count their statements, checked before lending.

    max_waiting: requests that may queue for a connection (0: no limit), past it TooManyRequests."""
    return CheckedPool(
        conninfo,
        connection_class=CountedConnection,
        kwargs={"autocommit": True, "cursor_factory": CountingCursor, "application_name": name},
        min_size=min_size,
        max_size=max_size,
        timeout=timeout_s,
        max_idle=max_idle_s,
        num_workers=num_workers,
        max_waiting=max_waiting,
        name=name,
        open=False,
    )


def too_many_waiting(unit: Unit, limit: int) -> ServiceUnavailableError:
    """The 503 at once for an org whose requests already queue pool.perOrg.maxWaiting deep."""
    return ServiceUnavailableError(
        f"org {unit.org_id} already has {limit} requests waiting for its {unit.limit} connections on"
        f" datasource {unit.datasource!r} (pool.perOrg.maxWaiting); retry shortly, or raise"
        " pool.perOrg.maxConnections or pool.perOrg.maxWaiting")


@contextmanager
def pooled(pool: ConnectionPool, *, deadline: float, what: str, hint: str) -> Iterator[psycopg.Connection]:
    """getconn/putconn with the pool's timeout mapped to a 503: the database is down, or the setting to change."""
    remaining = max(deadline - time.monotonic(), 0.001)
    try:
        conn = pool.getconn(timeout=remaining)
    except TooManyRequests as exc:
        raise ServiceUnavailableError(
            f"{what} already has {pool.max_waiting} requests waiting (pool.perOrg.maxWaiting); retry shortly,"
            " or raise pool.perOrg.maxConnections or pool.perOrg.maxWaiting") from exc
    except PoolTimeout as exc:
        raise wait_timed_out(pool, waited_s=remaining, what=what, hint=hint) from exc
    try:
        yield conn
    finally:
        pool.putconn(conn)

