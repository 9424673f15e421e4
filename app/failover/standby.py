"""A write refused because the server reached is a standby: a failover under way, not a bug.

PostgreSQL refuses a write in a read-only transaction with the same error (25006) whether the
transaction was begun READ ONLY (a bug in the caller, or a role made read-only on purpose: raise
it as it is) or the server is a hot standby (a failover: the pool should reconnect, to the
primary). The server tells which: since PostgreSQL 14 it reports `in_hot_standby` to the client
whenever it changes, so the answer costs no round trip. (`default_transaction_read_only` is not
taken as a sign: an operator may set it on a role, e.g. the agent's, as defence in depth.)
"""
from __future__ import annotations

import psycopg

from app.errors.database import DatabaseReadOnlyError


def on_standby(conn: psycopg.Connection) -> bool:
    """Whether the server of `conn` says it is a hot standby (it takes no writes)."""
    return not conn.closed and conn.info.parameter_status("in_hot_standby") == "on"


def refused_by_standby(conn: psycopg.Connection, exc: BaseException) -> DatabaseReadOnlyError | None:
    """The 503 to raise instead of `exc` when it is a write refused by a hot standby, else None.
    The caller closes `conn` then: a new connection (target_session_attrs=read-write) reaches the primary."""
    if not isinstance(exc, psycopg.errors.ReadOnlySqlTransaction) or not on_standby(conn):
        return None
    return DatabaseReadOnlyError(
        f"the database server reached ({conn.info.host}:{conn.info.port}) is a read-only standby: a failover"
        " is under way, or DATABASE_URL lacks target_session_attrs=read-write; retry shortly")
