"""A write refused because the server reached is a standby: a failover under way, not a bug.

PostgreSQL refuses a write in a read-only transaction with the same error (25006) whether the
transaction was begun READ ONLY (a bug in the caller: raise it as it is) or the server is a hot
standby or fenced read-only (a failover: the pool should reconnect, to the primary). The server
tells which: since PostgreSQL 14 it reports `in_hot_standby` and `default_transaction_read_only`
to the client whenever they change, so the answer costs no round trip.
"""
from __future__ import annotations

import psycopg

from app.errors import DatabaseReadOnlyError

_READ_ONLY_SERVER = ("in_hot_standby", "default_transaction_read_only")


def read_only_server(conn: psycopg.Connection) -> bool:
    """Whether the server of `conn` says it takes no writes (a standby, or read-only by default)."""
    return not conn.closed and any(conn.info.parameter_status(name) == "on" for name in _READ_ONLY_SERVER)


def refused_by_standby(conn: psycopg.Connection, exc: BaseException) -> DatabaseReadOnlyError | None:
    """The 503 to raise instead of `exc` when it is a write refused by a read-only server, else None.
    The caller closes `conn` then: a new connection (target_session_attrs=read-write) reaches the primary."""
    if not isinstance(exc, psycopg.errors.ReadOnlySqlTransaction) or not read_only_server(conn):
        return None
    return DatabaseReadOnlyError(
        f"the database server reached ({conn.info.host}:{conn.info.port}) is a read-only standby: a failover"
        " is under way, or DATABASE_URL lacks target_session_attrs=read-write; retry shortly")
