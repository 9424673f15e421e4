"""The sliding window log: no burst at a window edge, shared by app servers, PostgreSQL the authority.

Clocks are injected (a fixed `at` for PostgreSQL, a number for Redis), so no test sleeps.
Redis tests use the shared Redis under a key prefix of their own, deleted afterwards.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis

from app.db import Database
from app.errors import RateLimitedError
from app.errors.limits import RedisUnavailableError
from app.limits.circuit import CircuitBreaker
from app.limits.ratelimit import PostgresRateLimiter, RedisFirstRateLimiter, RedisRateLimiter
from app.limits.redis_link import RedisLink

REDIS_URL = "redis://127.0.0.1:6379/0"
EPOCH = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)


class Clock:
    """Seconds since EPOCH; `.at()` as a datetime for PostgreSQL, `.seconds()` for Redis."""

    def __init__(self) -> None:
        self.now = 0.0

    def at(self) -> dt.datetime:
        return EPOCH + dt.timedelta(seconds=self.now)

    def seconds(self) -> float:
        return EPOCH.timestamp() + self.now


@pytest.fixture
def orgs(fresh_db) -> tuple[uuid.UUID, uuid.UUID]:
    a, b = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(fresh_db.admin_url, autocommit=True) as conn:
        for org, slug in ((a, "a"), (b, "b")):
            conn.execute("INSERT INTO organizations (id, name, slug) VALUES (%s, %s, %s)", (org, slug, slug))
    return a, b


@pytest.fixture
def database(fresh_db) -> Iterator[Database]:
    db = Database(fresh_db.app_url, min_size=0, max_size=2).open()
    yield db
    db.close()


@pytest.fixture
def link() -> Iterator[tuple[RedisLink, str]]:
    prefix = f"atlas-test:{uuid.uuid4().hex[:12]}"
    link = RedisLink(url=REDIS_URL, timeout_ms=500, cooldown_s=5)
    yield link, prefix
    keys = list(link.client.scan_iter(match=f"{prefix}:*"))
    if keys:
        link.client.delete(*keys)
    link.close()


def limiters(kind: str, database: Database, link: tuple[RedisLink, str], clock: Clock, servers: int = 1):
    """`servers` limiters sharing state, as separate app servers would."""
    if kind == "postgres":
        return [PostgresRateLimiter(database, clock=clock.at) for _ in range(servers)]
    return [RedisRateLimiter(link[0], key_prefix=link[1], clock=clock.seconds) for _ in range(servers)]


def admitted(limiter, org: uuid.UUID, n: int, per_minute: int) -> int:  # type: ignore[no-untyped-def]
    count = 0
    for _ in range(n):
        try:
            limiter.take(str(org), per_minute=per_minute)
            count += 1
        except RateLimitedError:
            pass
    return count


@pytest.mark.parametrize("kind", ["postgres", "redis"])
def test_no_double_burst_at_a_window_edge(kind, database, link, orgs):
    clock = Clock()
    [limiter] = limiters(kind, database, link, clock)
    org = orgs[0]
    clock.now = 59.9  # a fixed one-minute window would end in 0.1 s
    assert admitted(limiter, org, 5, per_minute=3) == 3
    clock.now = 60.1  # ... and a new one would admit 3 more here
    with pytest.raises(RateLimitedError) as refused:
        limiter.take(str(org), per_minute=3)
    assert refused.value.status == 429 and refused.value.retry_after_s == 60  # 59.8 s, rounded up
    clock.now = 119.8
    assert admitted(limiter, org, 1, per_minute=3) == 0
    clock.now = 120.0  # the first three left the window
    assert admitted(limiter, org, 5, per_minute=3) == 3


@pytest.mark.parametrize("kind", ["postgres", "redis"])
def test_no_60_s_span_ever_holds_more_than_the_limit(kind, database, link, orgs):
    clock = Clock()
    [limiter] = limiters(kind, database, link, clock)
    times = []
    for step in range(0, 1500):  # a query every 0.2 s for 300 s
        clock.now = step / 5
        if admitted(limiter, orgs[0], 1, per_minute=7):
            times.append(clock.now)
    assert max(sum(1 for t in times if start <= t < start + 60) for start in times) == 7
    assert len(times) == 5 * 7  # and the rate is used in full: 7 per minute over 5 minutes


@pytest.mark.parametrize("kind", ["postgres", "redis"])
def test_the_window_is_shared_by_app_servers_and_each_org_has_its_own(kind, database, link, orgs):
    clock = Clock()
    first, second = limiters(kind, database, link, clock, servers=2)
    a, b = orgs
    first.take(str(a), per_minute=2)
    clock.now = 15
    second.take(str(a), per_minute=2)
    with pytest.raises(RateLimitedError) as refused:
        first.take(str(a), per_minute=2)
    assert refused.value.retry_after_s == 45  # the first query leaves the window at 60 s
    assert admitted(second, b, 2, per_minute=2) == 2  # another org's budget is its own
    clock.now = 60.0
    first.take(str(a), per_minute=2)


def test_postgresql_decides_when_redis_forgot_everything(database, link, orgs):
    """Redis restarted empty (its keys gone): PostgreSQL still remembers the window."""
    clock = Clock()
    redis_link, prefix = link
    limiter = RedisFirstRateLimiter(RedisRateLimiter(redis_link, key_prefix=prefix, clock=clock.seconds),
                                    PostgresRateLimiter(database, clock=clock.at))
    assert admitted(limiter, orgs[0], 3, per_minute=3) == 3
    redis_link.client.delete(*redis_link.client.keys(f"{prefix}:*"))
    clock.now = 30
    assert admitted(limiter, orgs[0], 3, per_minute=3) == 0


def test_postgresql_decides_alone_while_redis_is_unreachable(database, orgs):
    clock = Clock()
    dead = RedisLink(url="redis://127.0.0.1:1/0", timeout_ms=100, cooldown_s=60)
    try:
        limiter = RedisFirstRateLimiter(RedisRateLimiter(dead, key_prefix="unused", clock=clock.seconds),
                                        PostgresRateLimiter(database, clock=clock.at))
        assert admitted(limiter, orgs[0], 5, per_minute=3) == 3
        assert dead.breaker.state == "open"
    finally:
        dead.close()


def test_the_circuit_opens_on_failure_and_lets_one_trial_through_after_the_cool_down():
    now = [0.0]
    breaker = CircuitBreaker("test", failure_threshold=2, cooldown_s=5, clock=lambda: now[0])
    breaker.failed()
    assert breaker.allow() and breaker.state == "closed"
    breaker.failed()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 5.0
    assert breaker.allow()  # the trial
    assert not breaker.allow()  # only one at a time
    breaker.failed()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 10.0
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


def test_an_open_circuit_answers_without_calling_redis():
    calls = []
    link = RedisLink(url="redis://127.0.0.1:1/0", timeout_ms=100, cooldown_s=60)
    try:
        with pytest.raises(RedisUnavailableError):
            link.call(lambda client: calls.append(1) or client.ping())
        with pytest.raises(RedisUnavailableError, match="circuit open"):
            link.call(lambda client: calls.append(1) or client.ping())
        assert calls == [1]
    finally:
        link.close()


def test_redis_errors_are_not_retried(link):
    """redis-py retries three times by default; a hung Redis would cost four timeouts a call."""
    assert link[0].client.get_retry()._retries == 0
    assert isinstance(link[0].client, redis.Redis)
