"""Redis hung (SIGSTOP) or dead and restarted empty, on a redis-server the test starts itself.

Documented choice (docs/limits.md): the agent endpoint keeps answering with
cache misses; PostgreSQL keeps deciding the rate, so no outage or restart lets
an org past its limit; the circuit breaker keeps a hung Redis from costing more
than one short timeout per cool-down.
"""
from __future__ import annotations

import signal
import statistics
import threading
import time
import uuid

import pytest

from tests.support.api import build_two_orgs, close_app, make_app
from tests.support.errors import error_of
from tests.support.redis_server import RedisServer
from tests.support.serving import atlas_serve, owner_of_new_org, request

TIMEOUT_MS = 200
# One query may meet the limiter and the cache read/write before the circuit opens: 3 timeouts, plus the query.
BUDGET_S = 3 * TIMEOUT_MS / 1000 + 0.5


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path).start()
    yield server
    server.kill()


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


def test_a_hung_redis_costs_agent_queries_milliseconds_and_other_orgs_nothing(redis_server, fresh_db, tmp_path):
    env = {"ATLAS_CACHE_BACKEND": "redis", "ATLAS_CACHE_REDIS_URL": redis_server.url,
           "ATLAS_CACHE_REDIS_TIMEOUT_MS": str(TIMEOUT_MS), "ATLAS_CACHE_REDIS_COOLDOWN_S": "5",
           "ATLAS_SEMANTIC_ROOT": str(tmp_path / "semantic")}
    with atlas_serve(fresh_db, tmp_path / "serve.log", workers=2, threads=4, env=env) as server:
        port = server.port
        acme, globex = owner_of_new_org(port, "acme"), owner_of_new_org(port, "globex")
        assert request(port, "PATCH", "/api/v1/settings", {"queryRatePerMinute": 600}, token=acme)[0] == 200
        assert request(port, "POST", "/api/v1/query", {"sql": "SELECT 1 AS one"}, token=acme)[0] == 200

        def crm_reads(out: list[float], stop: threading.Event) -> None:
            while not stop.is_set():
                started = time.monotonic()
                status, _, _ = request(port, "GET", "/api/v1/contacts?limit=1", token=globex)
                out.append(time.monotonic() - started)
                assert status == 200
                time.sleep(0.02)

        alone: list[float] = []
        stop = threading.Event()
        reader = threading.Thread(target=crm_reads, args=(alone, stop))
        reader.start()
        time.sleep(2)
        stop.set()
        reader.join()

        redis_server.signal(signal.SIGSTOP)
        try:
            hung: list[float] = []
            stop = threading.Event()
            reader = threading.Thread(target=crm_reads, args=(hung, stop))
            reader.start()
            durations, statuses = [], []
            try:
                for i in range(30):
                    started = time.monotonic()
                    status, _, body = request(port, "POST", "/api/v1/query",
                                              {"sql": f"SELECT {i} AS n"}, token=acme)
                    durations.append(time.monotonic() - started)
                    statuses.append(status)
                    assert status == 200 and body["cached"] is False, body
            finally:
                stop.set()
                reader.join()
        finally:
            redis_server.signal(signal.SIGCONT)
    assert max(durations) < BUDGET_S, durations
    # the breaker: after the first failure per worker, queries skip Redis entirely
    assert sum(1 for d in durations if d >= TIMEOUT_MS / 1000) <= 2 * 3, durations
    assert len(hung) >= 20 and p99(hung) < 0.5, (p99(alone), p99(hung))
    print(f"\nagent query under a hung Redis: max {max(durations):.3f} s, median {statistics.median(durations):.3f} s;"
          f" Globex CRM p99 alone {p99(alone):.3f} s, during {p99(hung):.3f} s")


def test_redis_outage_and_empty_restart_let_no_org_past_its_limit(redis_server, fresh_db, tmp_path):
    prefix = f"atlas-test:{uuid.uuid4().hex[:12]}"
    app = make_app(fresh_db, semantic_root=str(tmp_path / "semantic"), cache_backend="redis",
                   cache_redis_url=redis_server.url, cache_key_prefix=prefix,
                   cache_redis_timeout_ms=TIMEOUT_MS, cache_redis_cooldown_s=0)
    try:
        world = build_two_orgs(app, fresh_db)
        owner = world.user("a", "owner")
        assert owner.patch("/api/v1/settings", json={"queryRatePerMinute": 5}).status_code == 200

        def answered(n: int) -> int:
            return sum(owner.post("/api/v1/query", json={"sql": "SELECT 1 AS one"}).status_code == 200
                       for _ in range(n))

        assert answered(3) == 3  # Redis up
        redis_server.kill()  # dead: the limiter falls back to PostgreSQL, the queries still answer
        assert answered(5) == 2
        redis_server.start()  # back, and empty
        assert answered(5) == 0
        refused = owner.post("/api/v1/query", json={"sql": "SELECT 1 AS one"})
        assert refused.status_code == 429 and error_of(refused)["code"] == "rate_limited"
        # another org's budget is untouched by all of it
        member_b = world.user("b", "member")
        assert all(member_b.post("/api/v1/query", json={"sql": "SELECT 1 AS one"}).status_code == 200
                   for _ in range(3))
    finally:
        close_app(app)
