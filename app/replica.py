"""Agent SQL on a hot standby: the connection it runs on, the lag bound, and what happens past it.

With ATLAS_AGENT_REPLICA_URL set (the agent role on a streaming replica of the
shared database), an admitted agent query for an org in the shared database
runs there: same gateway, same read-only transaction with the same SET LOCAL
identity and limits (app/gateway/execute.py), same in-flight slot, byte budget
and cache. Sessions, access checks, rate and in-flight accounting stay on the
primary, before the query reaches here, so a revocation binds at once.

Before each query the replica's lag is read on the borrowed connection:

    0 when everything received is replayed, else now() - pg_last_xact_replay_timestamp()

Past ATLAS_AGENT_MAX_LAG_S, or when the replica cannot be reached, the query
goes where ATLAS_AGENT_REPLICA_FALLBACK says: `primary` (the agent role's own
pool, as without a replica) or `refuse` (503 with Retry-After and a message
naming the setting). A replica that failed is not asked again for
DOWN_RECHECK_S, so a dead replica costs one connect timeout, not one per query.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import errors as pg
from psycopg_pool import PoolTimeout

from app.db.checked_pool import CheckedPool
from app.db.connect import open_connection
from app.db.refusals import is_connection_failure
from app.errors.configuration import ConfigurationError
from app.errors.database import ReplicaUnavailableError
from app.ops import metrics

log = logging.getLogger("atlas.replica")

FALLBACKS = ("primary", "refuse")
CONNECT_TIMEOUT_S = 2
DOWN_RECHECK_S = 5.0
PROBE_TTL_S = 1.0
LAG_SQL = ("SELECT pg_is_in_recovery(), CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM"
           " pg_last_wal_replay_lsn() THEN 0 ELSE coalesce(extract(epoch FROM now()"
           " - pg_last_xact_replay_timestamp()), 1e9) END::float8")  # behind, nothing replayed yet: unknown


@dataclass(frozen=True)
class ReplicaStatus:
    """What health, readiness and /metrics report: reachable, its lag, and within the bound."""

    up: bool
    lag_s: float | None
    max_lag_s: float
    error: str | None = None

    @property
    def within_bound(self) -> bool:
        return self.up and self.lag_s is not None and self.lag_s <= self.max_lag_s

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {"status": "ok" if self.within_bound else ("lagging" if self.up else "down"),
                                   "lagSeconds": None if self.lag_s is None else round(self.lag_s, 3),
                                   "maxLagSeconds": self.max_lag_s}
        if self.error:
            body["error"] = self.error
        return body


class AgentReplica:
    """The replica's pool (opened on first use), its lag check and its fallback rule."""

    def __init__(self, url: str, *, max_lag_s: float, fallback: str, pool_size: int, timeout_s: float,
                 prepared_statements: bool = True) -> None:
        if fallback not in FALLBACKS:
            raise ConfigurationError(f"ATLAS_AGENT_REPLICA_FALLBACK must be primary or refuse, not {fallback!r}")
        if not (isinstance(max_lag_s, (int, float)) and max_lag_s > 0 and math.isfinite(max_lag_s)):
            raise ConfigurationError("ATLAS_AGENT_MAX_LAG_S must be a positive number of seconds")
        self.url, self.max_lag_s, self.fallback = url, float(max_lag_s), fallback
        self._pool_size, self._timeout_s = pool_size, timeout_s
        self._prepared_statements = prepared_statements  # False behind PgBouncer < 1.21 (app/db/wire.py WireConfig)
        self._pool: CheckedPool | None = None
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._last: tuple[float, ReplicaStatus] | None = None

    # ----- routing ------------------------------------------------------------------------------
    def connector(self, primary: Callable[[], AbstractContextManager[psycopg.Connection]]
                  ) -> AbstractContextManager[psycopg.Connection]:
        """A connection on the replica within the lag bound, else the fallback's (primary or 503)."""
        return self._connect(primary)

    @contextmanager
    def _connect(self, primary: Callable[[], AbstractContextManager[psycopg.Connection]]
                 ) -> Iterator[psycopg.Connection]:
        conn, refusal = self._borrow()
        if conn is None:
            assert refusal is not None
            if self.fallback == "refuse":
                metrics.agent_query_routed("refused")
                raise refusal
            metrics.agent_query_routed("primary")
            with primary() as fallback_conn:
                yield fallback_conn
            return
        metrics.agent_query_routed("replica")
        pool = self.pool()
        try:
            yield conn
        except pg.SerializationFailure as exc:  # 40001 on a standby: canceled to let replay proceed
            raise ReplicaUnavailableError(
                "the agent replica canceled the query to keep replaying the primary's changes (a conflict with "
                "recovery); retry, or raise max_standby_streaming_delay on the replica", retry_after_s=1) from exc
        except psycopg.Error as exc:
            if not is_connection_failure(exc):
                raise
            self._mark_down(exc)
            raise ReplicaUnavailableError(
                "the agent replica (ATLAS_AGENT_REPLICA_URL) closed the connection during the query; retry: "
                f"the next query goes {'to the primary' if self.fallback == 'primary' else 'nowhere until it is back'}"
            ) from exc
        finally:
            pool.putconn(conn)

    def _borrow(self) -> tuple[psycopg.Connection | None, ReplicaUnavailableError | None]:
        """A replica connection whose lag is within the bound, or why not."""
        if time.monotonic() < self._down_until:
            return None, self._down_refusal("did not answer a moment ago")
        pool = self.pool()
        try:
            conn = pool.getconn(timeout=min(self._timeout_s, CONNECT_TIMEOUT_S + 1))
        except (PoolTimeout, psycopg.OperationalError) as exc:
            self._mark_down(exc)
            return None, self._down_refusal("cannot be reached")
        try:
            status = self._read(conn)
        except psycopg.Error as exc:
            pool.putconn(conn)
            self._mark_down(exc)
            return None, self._down_refusal("cannot be reached")
        self._remember(status)
        if status.within_bound:
            return conn, None
        pool.putconn(conn)
        lag = status.lag_s or 0.0
        if not status.up:
            return None, ReplicaUnavailableError(
                "ATLAS_AGENT_REPLICA_URL points at a server that is not a standby (pg_is_in_recovery() is false)")
        return None, ReplicaUnavailableError(
            f"the agent replica is {lag:.1f} s behind the primary, more than ATLAS_AGENT_MAX_LAG_S "
            f"({self.max_lag_s:g} s); retry later, raise ATLAS_AGENT_MAX_LAG_S, or set "
            "ATLAS_AGENT_REPLICA_FALLBACK=primary", retry_after_s=math.ceil(min(max(lag - self.max_lag_s, 1), 60)))

    def _down_refusal(self, what: str) -> ReplicaUnavailableError:
        return ReplicaUnavailableError(
            f"the agent replica (ATLAS_AGENT_REPLICA_URL) {what}; retry shortly, or set "
            "ATLAS_AGENT_REPLICA_FALLBACK=primary to run agent queries on the primary meanwhile",
            retry_after_s=math.ceil(DOWN_RECHECK_S))

    def _mark_down(self, exc: BaseException) -> None:
        log.warning("agent replica unavailable (%s); not asked again for %.0f s", type(exc).__name__, DOWN_RECHECK_S)
        self._down_until = time.monotonic() + DOWN_RECHECK_S
        self._remember(ReplicaStatus(False, None, self.max_lag_s, f"unavailable ({type(exc).__name__})"))

    def _read(self, conn: psycopg.Connection) -> ReplicaStatus:
        row = conn.execute(LAG_SQL).fetchone()
        in_recovery, lag = (bool(row[0]), float(row[1])) if row else (False, 0.0)
        if not in_recovery:
            return ReplicaStatus(False, lag, self.max_lag_s, "not a standby")
        return ReplicaStatus(True, max(lag, 0.0), self.max_lag_s)

    def _remember(self, status: ReplicaStatus) -> None:
        self._last = (time.monotonic(), status)
        metrics.agent_replica(up=status.up, lag_s=status.lag_s)

    # ----- reporting ----------------------------------------------------------------------------
    def last_status(self) -> ReplicaStatus | None:
        """The last status this process saw (no probe): for /healthz."""
        return self._last[1] if self._last else None

    def probe(self) -> ReplicaStatus:
        """A fresh connection's answer, reused for PROBE_TTL_S: for /readyz and /metrics."""
        if self._last is not None and time.monotonic() - self._last[0] < PROBE_TTL_S:
            return self._last[1]
        try:
            with open_connection("replica", self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                                 application_name="atlas-replica-probe") as conn:
                status = self._read(conn)
        except psycopg.Error as exc:
            status = ReplicaStatus(False, None, self.max_lag_s, f"unavailable ({type(exc).__name__})")
        self._remember(status)
        return status

    def pool(self) -> CheckedPool:
        with self._lock:
            if self._pool is None:
                self._pool = CheckedPool(
                    self.url, min_size=0, max_size=self._pool_size, timeout=self._timeout_s, open=False,
                    kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S}, name="atlas-agent-replica",
                    prepared_statements=self._prepared_statements,
                )
                self._pool.open(wait=False)
            return self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
