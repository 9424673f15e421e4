"""Is this process ready for traffic? The database answers, and Redis when the cache uses it.

Each check opens a connection of its own (never a pool slot a tenant request
could need) and gives up after READINESS_TIMEOUT_S, even against a server that
accepts connections and then says nothing: the database probe runs on asyncio
under `wait_for`, the Redis probe in a thread joined with the same deadline
(its own socket timeouts end it soon after). The checks run side by side, so
an answer takes at most about one timeout. A result is reused for
RESULT_TTL_S and one probe runs at a time per process, so a flood of
/readyz cannot become a flood of database connections.

The database check names the server it reached (`primary`: host:port): with a
multi-host DATABASE_URL and target_session_attrs=read-write that is the node
writes go to now, so an operator sees a failover in the probe (docs/operations.md).
A server in recovery (a standby) fails the check: writes would be refused there.
"""
from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.db.connect import open_async_connection

RESULT_TTL_S = 1.0


@dataclass(frozen=True)
class Check:
    """One dependency's answer: ok, or why not."""

    ok: bool
    ms: float
    error: str | None = None
    primary: str | None = None  # the database server reached, host:port, when it accepts writes

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": "ok" if self.ok else "failed", "ms": round(self.ms, 1)}
        if self.primary:
            body["primary"] = self.primary
        if self.error:
            body["error"] = self.error
        return body


async def _server_reached(url: str) -> tuple[str, bool]:
    """-> (host:port of the server the URL reached, whether it is in recovery)."""
    conn = await open_async_connection("readyz", url, autocommit=True, connect_timeout=10)
    try:
        cursor = await conn.execute("SELECT pg_is_in_recovery()")
        row = await cursor.fetchone()
        return f"{conn.info.host}:{conn.info.port}", bool(row and row[0])
    finally:
        await conn.close()  # never a ROLLBACK: that would wait on a silent server again


def check_database(url: str, *, timeout_s: float) -> Check:
    """Which server the URL reaches, on a fresh connection abandoned after timeout_s; a standby fails."""
    started = time.monotonic()
    try:
        server, in_recovery = asyncio.run(asyncio.wait_for(_server_reached(url), timeout_s))
    except TimeoutError:
        return Check(False, _ms(started), f"did not answer within {timeout_s:g} s")
    except psycopg.Error as exc:
        return Check(False, _ms(started), f"unavailable ({type(exc).__name__})")
    if in_recovery:
        return Check(False, _ms(started), f"{server} is a standby (read-only): a failover is under way, or"
                                          " DATABASE_URL lacks target_session_attrs=read-write")
    return Check(True, _ms(started), primary=server)


def check_redis(client: redis.Redis, *, timeout_s: float) -> Check:
    """PING on a fresh connection to the server `client` uses, with probe-sized timeouts and no retry."""
    started = time.monotonic()
    pool = client.connection_pool
    conn = pool.connection_class(**{**pool.connection_kwargs, "socket_timeout": timeout_s,
                                    "socket_connect_timeout": timeout_s, "retry": Retry(NoBackoff(), 0)})
    try:
        conn.connect()
        conn.send_command("PING")
        if not conn.can_read(timeout=max(timeout_s - (time.monotonic() - started), 0.001)):
            return Check(False, _ms(started), f"did not answer within {timeout_s:g} s")
        conn.read_response()
    except redis.TimeoutError:
        return Check(False, _ms(started), f"did not answer within {timeout_s:g} s")
    except redis.RedisError as exc:
        return Check(False, _ms(started), f"unavailable ({type(exc).__name__})")
    finally:
        conn.disconnect()
    return Check(True, _ms(started))


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000


@dataclass
class Readiness:
    """One app's probe: what to check, the last result and the lock that makes probes single file."""

    database_url: str
    redis_client: redis.Redis | None
    timeout_s: float
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _last: tuple[float, dict[str, Check]] | None = None

    def checks(self) -> dict[str, Check]:
        """{name: Check} for the database and (when the cache is Redis) redis."""
        with self._lock:
            if self._last is not None and time.monotonic() - self._last[0] < RESULT_TTL_S:
                return self._last[1]
            result = self._probe()
            self._last = (time.monotonic(), result)
            return result

    def _probe(self) -> dict[str, Check]:
        found: dict[str, Check] = {}
        worker = None
        if self.redis_client is not None:
            client = self.redis_client

            def ping() -> None:
                found["redis"] = check_redis(client, timeout_s=self.timeout_s)

            worker = threading.Thread(target=ping, name="atlas-readyz-redis", daemon=True)
            worker.start()
        started = time.monotonic()
        result = {"database": check_database(self.database_url, timeout_s=self.timeout_s)}
        if worker is not None:
            worker.join(max(self.timeout_s - (time.monotonic() - started), 0) + 0.05)
            result["redis"] = found.get("redis") or Check(
                False, _ms(started), f"did not answer within {self.timeout_s:g} s")
        return result
