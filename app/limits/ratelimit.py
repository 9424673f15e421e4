"""Per-org rate limit on agent queries, shared by every worker and app server.

`queryRatePerMinute` means: at most that many queries in any 60 s span. Both
limiters keep a sliding window log (the times of the queries admitted in the
last 60 s), so there is no burst at a window edge.

- PostgresRateLimiter: the log lives in `query_rate_log` (sql/061_limits.sql),
  one row per org under RLS, taken with one call of app.take_query_slot. It is
  the authority in every deployment: the database is what every app server
  shares, and its log survives a Redis outage or restart.
- RedisFirstRateLimiter (cache backend `redis`): the same log in a Redis
  sorted set, checked first by one atomic Lua script, so a flood of queries
  over the limit is refused without touching PostgreSQL; an admitted query is
  then taken from PostgreSQL too. Redis down, hung or restarted empty changes
  nothing about the limit: PostgreSQL still decides (docs/limits.md).
There is no per-process counter: a process never admits on its own.
"""
from __future__ import annotations

import datetime as dt
import logging
import math
import uuid
from collections.abc import Callable
from typing import Protocol

from app.db import Database
from app.errors import RateLimitedError
from app.errors.limits import RedisUnavailableError
from app.limits.redis_link import RedisLink

log = logging.getLogger("atlas.ratelimit")
WINDOW_S = 60.0


class RateLimiter(Protocol):
    def take(self, org_id: str, *, per_minute: int) -> None: ...


def refuse(per_minute: int, retry_after_s: float) -> RateLimitedError:
    return RateLimitedError(
        f"this organization's query rate limit ({per_minute} per minute, setting queryRatePerMinute) "
        f"is spent; retry in {math.ceil(retry_after_s)} s",
        retry_after_s=math.ceil(retry_after_s),
    )


class PostgresRateLimiter:
    """The org's log in query_rate_log; `clock` (tests only) replaces the database's clock."""

    def __init__(self, db: Database, *, clock: Callable[[], dt.datetime] | None = None) -> None:
        self._db = db
        self._clock = clock

    def take(self, org_id: str, *, per_minute: int) -> None:
        """Take a slot in the org's window, or raise RateLimitedError with the wait."""
        at = self._clock() if self._clock is not None else None
        with self._db.transaction(org_id) as scope:
            wait_s = scope.fetch_value("SELECT app.take_query_slot(%s, %s, %s)", (per_minute, WINDOW_S, at))
        if wait_s > 0:
            raise refuse(per_minute, wait_s)


# KEYS[1]: the org's log (a sorted set of admission ids scored by time in ms).
# ARGV: limit, window ms, now ms ('' = Redis's own clock), a unique id for this admission.
# Returns 0 when admitted, else the ms until a slot frees. Same rule as app.take_query_slot.
_TAKE_SLOT = """
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n >= limit then
  local edge = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')
  return math.max(tonumber(edge[2]) + window - now, 1)
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return 0
"""


class RedisRateLimiter:
    """The org's log at `{prefix}:rl:{org}`; raises RedisUnavailableError when Redis cannot answer."""

    def __init__(self, link: RedisLink, *, key_prefix: str, clock: Callable[[], float] | None = None) -> None:
        self._link = link
        self._prefix = key_prefix
        self._clock = clock  # seconds; None = Redis's clock, the one every app server shares
        self._script = link.client.register_script(_TAKE_SLOT)

    def take(self, org_id: str, *, per_minute: int) -> None:
        now_ms = "" if self._clock is None else str(round(self._clock() * 1000))
        args: list[str | int] = [per_minute, round(WINDOW_S * 1000), now_ms, uuid.uuid4().hex]
        key = f"{self._prefix}:rl:{org_id}"
        wait_ms = int(self._link.call(lambda _client: self._script(keys=[key], args=args)))
        if wait_ms > 0:
            raise refuse(per_minute, wait_ms / 1000)


class RedisFirstRateLimiter:
    """Redis refuses cheaply; PostgreSQL, the authority, admits. Redis away: PostgreSQL alone."""

    def __init__(self, redis_limiter: RedisRateLimiter, postgres: PostgresRateLimiter) -> None:
        self._redis = redis_limiter
        self._postgres = postgres

    def take(self, org_id: str, *, per_minute: int) -> None:
        try:
            self._redis.take(org_id, per_minute=per_minute)
        except RedisUnavailableError as exc:
            log.info("rate limit pre-check skipped (%s); PostgreSQL decides alone", exc)
        self._postgres.take(org_id, per_minute=per_minute)
