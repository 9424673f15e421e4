"""Per-org rate limit on agent queries, so one tenant cannot monopolize the database.

In-process: a token bucket per org (capacity = the org's per-minute rate,
refilled continuously), exact within one app process. With the Redis cache
backend the count is shared by every app server: a fixed one-minute window per
org (INCR + EXPIRE), falling back to the in-process bucket if Redis fails.
`take` raises RateLimitedError with the seconds until a query is allowed again.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from typing import Callable, Protocol

import redis

from app.errors import RateLimitedError

log = logging.getLogger("atlas.ratelimit")
_MAX_TRACKED_ORGS = 10_000


class RateLimiter(Protocol):
    def take(self, org_id: str, *, per_minute: int) -> None: ...


def _refuse(per_minute: int, retry_after_s: float) -> RateLimitedError:
    return RateLimitedError(
        f"this organization's query rate limit ({per_minute} per minute, setting queryRatePerMinute) "
        f"is spent; retry in {math.ceil(retry_after_s)} s",
        retry_after_s=math.ceil(retry_after_s),
    )


class TokenBucketLimiter:
    """One bucket per org; thread-safe; the clock is injectable for tests."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # org -> (tokens, at)

    def take(self, org_id: str, *, per_minute: int) -> None:
        """Spend one token of the org's bucket, or raise RateLimitedError."""
        capacity = float(per_minute)
        refill_per_s = per_minute / 60.0
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(org_id, (capacity, now))
            tokens = min(capacity, tokens + (now - at) * refill_per_s)
            if tokens < 1.0:
                self._buckets[org_id] = (tokens, now)
                raise _refuse(per_minute, (1.0 - tokens) / refill_per_s)
            self._buckets[org_id] = (tokens - 1.0, now)
            if len(self._buckets) > _MAX_TRACKED_ORGS:
                self._forget_full(now)

    def _forget_full(self, now: float) -> None:
        """Drop buckets idle for a minute: any bucket refills completely in 60 s."""
        for org, (_, at) in list(self._buckets.items()):
            if now - at > 60.0:
                del self._buckets[org]


class RedisWindowLimiter:
    """A shared per-org count per one-minute window at `{prefix}:rl:{org}:{window}`."""

    def __init__(self, client: redis.Redis, *, key_prefix: str, fallback: RateLimiter,
                 clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._prefix = key_prefix
        self._fallback = fallback
        self._clock = clock

    def take(self, org_id: str, *, per_minute: int) -> None:
        now = self._clock()
        window = int(now // 60)
        key = f"{self._prefix}:rl:{org_id}:{window}"
        try:
            with self._client.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, 120)
                count = int(pipe.execute()[0])
        except redis.RedisError as exc:
            log.warning("shared rate limit unavailable, limiting in-process: %s", type(exc).__name__)
            self._fallback.take(org_id, per_minute=per_minute)
            return
        if count > per_minute:
            raise _refuse(per_minute, (window + 1) * 60 - now)
