"""Counters behind GET /api/v1/admin/connections: per org, per pool, and in total.

Statements are counted by the cursor class every pooled connection uses, so a
query count needs no cooperation from the code holding the connection.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

DRAIN_HISTORY = 20


class CountedConnection(psycopg.Connection):
    """A connection that knows how many statements were sent on it."""

    statements = 0


class CountingCursor(psycopg.Cursor):
    """Counts execute/executemany calls on its CountedConnection."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        _count(self.connection)
        return super().execute(query, params, **kwargs)

    def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
        _count(self.connection)
        super().executemany(query, params_seq, **kwargs)


def _count(conn: psycopg.Connection) -> None:
    if isinstance(conn, CountedConnection):
        conn.statements += 1


def statements_of(conn: psycopg.Connection) -> int:
    return conn.statements if isinstance(conn, CountedConnection) else 0


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Stats:
    """Counters of one (org, datasource) or one base pool; they outlive evicted pools."""

    requests: int = 0  # connection requests, admitted or not
    checkouts: int = 0  # connections handed out
    statements: int = 0
    errors: int = 0  # requests that ended in an exception (query, timeout or capacity)
    failures: int = 0  # connection-level failures, the ones that count towards a drain
    consecutive_failures: int = 0
    evictions: int = 0
    pools_created: int = 0
    connections_opened: int = 0  # by pools already closed; live pools add their own
    drains: deque[dict[str, str]] = field(default_factory=lambda: deque(maxlen=DRAIN_HISTORY))
    last_used: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "checkouts": self.checkouts,
            "queries": self.statements,
            "errors": self.errors,
            "error_rate": round(self.errors / self.requests, 4) if self.requests else 0.0,
            "failures": self.failures,
            "consecutive_failures": self.consecutive_failures,
            "evictions": self.evictions,
            "pools_created": self.pools_created,
            "drains": list(self.drains),
            "last_used": datetime.fromtimestamp(self.last_used, UTC).isoformat(timespec="seconds"),
        }


def pool_figures(pool: ConnectionPool | None) -> dict[str, int]:
    """What psycopg_pool knows: connections open, idle, waiting clients, connections opened."""
    if pool is None or pool.closed:
        return {"size": 0, "idle": 0, "pool_waiting": 0, "connections_opened": 0}
    stats = pool.get_stats()
    return {
        "size": stats.get("pool_size", 0),
        "idle": stats.get("pool_available", 0),
        "pool_waiting": stats.get("requests_waiting", 0),
        "connections_opened": stats.get("connections_num", 0),
    }
