"""Pools that never lend a connection the server has closed, and say why a wait timed out.

After PostgreSQL restarts or a backend is killed, a pool still holds the old
connections. Checking each one with a round trip before lending it costs every
request; instead the check is one non-blocking poll() of the socket: an idle
connection has nothing to read, so a readable socket means the server sent
something (a FATAL on shutdown, or EOF), and only then is a real round trip
made. A failed check makes the pool discard the connection and try the next,
so the first request after a restart succeeds. A connection given back is checked
too (`putconn`): one whose state is unknown (app/db/wire.py's `lendable`) is discarded.

When a wait for a connection times out, the pool's own counters tell whether
connecting was failing (the database is unreachable), had failed until moments
ago (the database is back from a restart or a failover, and the pool is still
reopening its connections while writes that waited for the new primary finish),
or every connection was busy (the pool is too small); the 503 says which, so
operators are not sent to the pool size while the database is down.
"""
from __future__ import annotations

import logging
import random
import select
import time
from typing import Any

import psycopg
from psycopg import pq
from psycopg_pool import ConnectionPool
from psycopg_pool.base import AttemptWithBackoff

from app.db import wire
from app.errors import ServiceUnavailableError
from app.errors.database import DatabaseUnavailableError

log = logging.getLogger("atlas.pools")


_IDLE = pq.TransactionStatus.IDLE
RECONNECT_MAX_DELAY_S = 0.5  # longest pause between two attempts to connect while connecting fails
RECOVERING_S = 10.0  # after connecting works again, a wait that times out is still the outage's


class PromptAttempt(AttemptWithBackoff):
    """psycopg_pool's reconnect back-off, capped at RECONNECT_MAX_DELAY_S.

    The stock back-off doubles from 1 s (1, 2, 4, 8, 16 s...): after a 20 s outage the next attempt
    came up to 8 s after the database was ready again, and requests waited for it until their
    pool timeout (issue 24 item 14). An attempt to a server that is down costs a refused TCP
    connection, so retrying twice a second costs nothing and recovery starts within 0.5 s.
    """

    INITIAL_DELAY = 0.1

    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, RECONNECT_MAX_DELAY_S * random.uniform(0.8, 1.0))


def server_closed(conn: psycopg.Connection) -> bool:
    """One poll() of an idle connection's socket: readable means the server sent a FATAL or closed it."""
    if conn.closed:
        return True
    poller = select.poll()
    poller.register(conn.pgconn.socket, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


class CheckedPool(ConnectionPool):
    """A ConnectionPool that checks connections before lending, and remembers whether connecting fails."""

    def __init__(self, conninfo: str, *, prepared_statements: bool = True, **kwargs: Any) -> None:
        """`prepared_statements` False: psycopg prepares nothing (PgBouncer < 1.21; app/db/wire.py WireConfig)."""
        if not prepared_statements:
            kwargs["kwargs"] = {**(kwargs.get("kwargs") or {}), "prepare_threshold": None}
        self._errors_at_last_connect = 0
        self._recovered_at = float("-inf")  # when a connection opened after failed attempts
        kwargs.setdefault("check", self._check_before_lending)
        kwargs.setdefault("configure", self._connected)
        super().__init__(conninfo, **kwargs)

    def getconn(self, timeout: float | None = None) -> psycopg.Connection:
        """A connection: an idle one at once when there is one (the short path), else psycopg_pool's wait.

        The short path does what psycopg_pool's getconn does for a ready connection (count the
        request, check it before lending, mark it lent) in a few calls instead of a dozen: on a
        one-round-trip read, about 5-10 us of a 100-200 us call (scripts/bench_rls.py). Anything
        else (no idle connection, a closed pool, a failed check) takes psycopg_pool's own path.
        """
        conn = None
        with self._lock:
            if self._pool and not self._closed and (timeout is None or timeout > 0):  # psycopg_pool: <= 0 times out
                conn = self._pool.popleft()
                if len(self._pool) < self._nconns_min:
                    self._nconns_min = len(self._pool)
        if conn is None:
            return super().getconn(timeout)
        self._stats[self._REQUESTS_NUM] += 1
        try:
            self._check_connection(conn)  # the pool's `check` (by default _check_before_lending)
        except Exception:
            self._putconn(conn, from_getconn=True)  # as psycopg_pool does: discarded and replaced
            return super().getconn(timeout)
        conn._pool = self  # lent: psycopg_pool's own mark
        return conn

    def putconn(self, conn: psycopg.Connection) -> None:
        """Take a connection back; one in an unknown state is closed, so the pool replaces it.

        The pool rolls back a connection given back inside a transaction; what it cannot see is a
        pipeline of app/db/wire.py that ended without settling its record of prepared statements, or
        a connection left in pipeline mode or mid-query: lent again, it would fail its next user.
        Checked here, synchronously (psycopg_pool's `reset` callback would hand every return to
        a worker thread, and the next request would often find no connection back yet).

        An idle, lendable, unexpired connection of this pool goes straight back to the idle queue
        when nobody waits (the short path of getconn's); anything else takes psycopg_pool's path.
        """
        if not conn.closed and not wire.lendable(conn):
            log.warning("discarding a connection given back in an unknown state")
            conn.close()
        elif (conn._pool is self and not self._reset and conn.pgconn.transaction_status == _IDLE
              and conn._created_at > self._drained_at and conn._expire_at > time.monotonic()):
            with self._lock:  # psycopg_pool's _add_to_pool when no client waits and no open() counts returns
                if not self._waiting and not self._closed and self._pool_full_event is None:
                    conn._pool = None  # psycopg_pool's mark of a connection at rest
                    self._pool.append(conn)
                    return
        super().putconn(conn)

    def _add_connection(self, attempt: AttemptWithBackoff | None, growing: bool = False) -> None:
        """psycopg_pool's connection task, with the capped back-off of PromptAttempt."""
        super()._add_connection(attempt or PromptAttempt(timeout=self.reconnect_timeout), growing=growing)

    def _check_before_lending(self, conn: psycopg.Connection) -> None:
        """The pool's `check` callback; a raise makes the pool discard `conn` and lend another.

        A connection closed by the server usually means its siblings were closed too (a
        restart): check() then tests every idle one at once, so the pool replaces them
        all now instead of lending them one by one with psycopg_pool's growing pauses.
        """
        if not server_closed(conn):
            return
        try:
            ConnectionPool.check_connection(conn)
            return  # it was only a notice: the connection works
        except psycopg.Error:
            self.check()
            raise

    def _connected(self, conn: psycopg.Connection) -> None:
        """Called for each new connection: connecting works again."""
        errors = self.get_stats().get("connections_errors", 0)
        if errors > self._errors_at_last_connect:
            self._recovered_at = time.monotonic()
        self._errors_at_last_connect = errors

    def connecting_fails(self) -> bool:
        """True when an attempt to open a connection failed after the last one that worked."""
        return self.get_stats().get("connections_errors", 0) > self._errors_at_last_connect

    def recovering(self) -> float | None:
        """Seconds since connecting worked again after failing, while under RECOVERING_S; else None."""
        since = time.monotonic() - self._recovered_at
        return since if since < RECOVERING_S else None


def wait_timed_out(pool: ConnectionPool, *, waited_s: float, what: str, hint: str) -> ServiceUnavailableError:
    """The 503 for a pool wait that timed out: the database is unreachable, or `what` is too small."""
    if isinstance(pool, CheckedPool) and pool.connecting_fails():
        return DatabaseUnavailableError(
            f"the database is unreachable: no connection could be opened for {what} within"
            f" {waited_s:.1f} s; check that PostgreSQL is running and accepting connections")
    recovering = pool.recovering() if isinstance(pool, CheckedPool) else None
    if recovering is not None:
        return DatabaseUnavailableError(
            f"the database is back from an outage (a restart or a failover) since {recovering:.1f} s and"
            f" {what} is still reopening its connections: none came free within {waited_s:.1f} s; retry shortly")
    return ServiceUnavailableError(f"no connection free in {what} after {waited_s:.1f} s; {hint}")
