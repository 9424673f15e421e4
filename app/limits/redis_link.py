"""One Redis connection per app, with short timeouts, no retries and a circuit breaker.

The query cache and the rate limiter's pre-filter share it. A hung or dead
Redis costs the first caller one timeout (`timeout_ms`, default 200 ms); the
breaker then answers "unavailable" at once for `cooldown_s`, so no request
waits on Redis again until one trial call finds it back.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.errors.limits import RedisUnavailableError
from app.limits.circuit import CircuitBreaker

T = TypeVar("T")


class RedisLink:
    """`call(fn)` runs fn(client) unless the circuit is open; every failure becomes RedisUnavailableError."""

    def __init__(self, *, url: str, timeout_ms: int, cooldown_s: float,
                 client: redis.Redis | None = None, breaker: CircuitBreaker | None = None) -> None:
        timeout_s = timeout_ms / 1000
        # redis-py retries 3 times by default: a hung server would cost 4 timeouts a call.
        self.client = client or redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0), retry_on_timeout=False, health_check_interval=0)
        self.breaker = breaker or CircuitBreaker("redis", cooldown_s=cooldown_s)

    def call(self, fn: Callable[[redis.Redis], T]) -> T:
        if not self.breaker.allow():
            raise RedisUnavailableError("redis circuit open")
        try:
            result = fn(self.client)
        except redis.RedisError as exc:
            self.breaker.failed(exc)  # redis-py drops the connection that failed
            raise RedisUnavailableError(type(exc).__name__) from exc
        self.breaker.succeeded()
        return result

    def close(self) -> None:
        self.client.close()
