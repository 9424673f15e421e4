"""The per-org limit on agent queries in flight: shared by every worker, refused at once, never queued."""
from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import psycopg
import pytest

from app.errors.limits import AgentCapacityError, AgentPlatformBusyError, TooManyConcurrentQueriesError
from app.errors.query import SqlRejectedError
from app.gateway import prepare
from app.limits.inflight import InflightLimiter
from tests.support.errors import error_of
from tests.support.serving import atlas_serve, request

HEAVY_SQL = "SELECT count(*) FROM generate_series(1,100000) a, generate_series(1,100000) b"
_request = partial(request, timeout_s=60, timed=True)  # -> (status, headers, body, seconds)


@pytest.fixture
def served(fresh_db, tmp_path):  # type: ignore[no-untyped-def]
    """`atlas serve` with 2 workers; in-flight limit 1 per org, and room for 4 agent threads per worker,
    so that a per-process count would let 2 queries of one org run at once."""
    env = {"ATLAS_QUERY_MAX_IN_FLIGHT": "1", "ATLAS_AGENT_THREADS_PER_WORKER": "4"}
    with atlas_serve(fresh_db, tmp_path / "serve.log", workers=2, threads=4, env=env) as server:
        yield server.port


def _owner_of_new_org(port: int, name: str) -> str:
    _, _, body, _ = _request(port, "POST", "/api/auth/sign-up/email",
                             {"email": f"{name}@inflight.test", "password": "long enough", "name": name})
    token = body["token"]
    _, _, org, _ = _request(port, "POST", "/api/auth/organization/create", {"name": name, "slug": name}, token)
    status, headers, _, _ = _request(port, "POST", "/api/auth/organization/set-active",
                                     {"organizationId": org["id"]}, token)
    assert status == 200
    token = headers["set-auth-token"]
    status, _, _, _ = _request(port, "PATCH", "/api/v1/settings",
                               {"queryStatementTimeoutMs": 3000, "queryRatePerMinute": 600}, token)
    assert status == 200
    return token


def _lock_connections(admin_url: str) -> int:
    with psycopg.connect(admin_url) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'atlas-inflight'"
                            " AND datname = current_database()").fetchone()[0]


def test_the_in_flight_limit_holds_across_two_workers_and_refuses_at_once(served, fresh_db):
    token = _owner_of_new_org(served, "acme")
    for _ in range(4):
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: _request(served, "POST", "/api/v1/query", {"sql": HEAVY_SQL}, token),
                                    range(8)))
        ran = [a for a in answers if a[0] != 429]
        refused = [a for a in answers if a[0] == 429]
        assert [(a[0], error_of(a[2])["code"]) for a in ran] == [(400, "query_timeout")], answers
        for _status, headers, body, seconds in refused:
            assert error_of(body)["code"] == "too_many_concurrent_queries"
            assert "queryMaxInFlight" in error_of(body)["message"]
            assert int(headers["Retry-After"]) >= 1
            assert seconds < 1.5, "a refusal is answered at once, not queued behind the running query"
        if _lock_connections(fresh_db.admin_url) == 2:
            break
    assert _lock_connections(fresh_db.admin_url) == 2, "both workers must have taken part"
    other = _owner_of_new_org(served, "globex")
    status, _, body, _ = _request(served, "POST", "/api/v1/query", {"sql": "SELECT 42 AS answer"}, other)
    assert status == 200 and body["rows"] == [[42]], body


@pytest.fixture
def limiters(fresh_db):  # type: ignore[no-untyped-def]
    """Two limiters on the same database: two processes (or app servers) as far as the limit can tell."""
    made = [InflightLimiter(fresh_db.app_url, process_threads=2) for _ in range(2)]
    yield made
    for limiter in made:
        limiter.close()


def test_a_slot_held_in_one_process_is_refused_in_another_until_released(limiters):
    one, two = limiters
    org, other = uuid.uuid4(), uuid.uuid4()
    with one.slot(org, limit=1):
        with pytest.raises(TooManyConcurrentQueriesError) as refused, two.slot(org, limit=1):
            pass
        assert refused.value.retry_after_s >= 1
        with two.slot(other, limit=1):
            assert two.held() == 1
    with two.slot(org, limit=1):
        assert one.held() == 0 and two.held() == 1


def test_after_a_refusal_the_orgs_slots_are_counted_before_its_work_and_only_while_all_are_taken(limiters,
                                                                                                 fresh_db):
    """A flood's excess is refused on one lock-table count; the count is exact, the hint short-lived."""
    one, _ = limiters
    two = InflightLimiter(fresh_db.app_url, process_threads=2, refusal_hint_s=0.5)
    org, other = uuid.uuid4(), uuid.uuid4()
    try:
        assert two.recent_refusal(org) is None, "nothing refused here yet: no count"
        with one.slot(org, limit=1):
            with pytest.raises(TooManyConcurrentQueriesError), two.slot(org, limit=1):
                pass
            early = two.recent_refusal(org)
            assert isinstance(early, TooManyConcurrentQueriesError)
            assert early.retry_after_s >= 1 and "queryMaxInFlight" in early.message
            assert two.recent_refusal(other) is None, "another org is not refused"
        assert two.recent_refusal(org) is None, "the slot was released in another process: the count sees it"
        with two.slot(org, limit=1):
            pass
        with one.slot(org, limit=1):  # refused again in two; then the hint ends after refusal_hint_s
            with pytest.raises(TooManyConcurrentQueriesError), two.slot(org, limit=1):
                pass
            assert isinstance(two.recent_refusal(org), TooManyConcurrentQueriesError)
            time.sleep(0.55)
            assert two.recent_refusal(org) is None, "past refusal_hint_s, slot() decides again"
        with two.slot(org, limit=2), two.slot(org, limit=2):  # this process holds every slot itself
            with pytest.raises(TooManyConcurrentQueriesError), two.slot(org, limit=2):
                pass
            assert isinstance(two.recent_refusal(org), TooManyConcurrentQueriesError), "its own slots count"
        assert two.recent_refusal(org) is None, "a slot released in this process ends the hint at once"
        assert two.held() == 0 and one.held() == 0
    finally:
        two.close()


def test_a_process_never_counts_its_own_slot_twice(limiters):
    one, _ = limiters
    org = uuid.uuid4()
    with one.slot(org, limit=2) as first, one.slot(org, limit=2) as second:
        assert {first, second} == {0, 1}
        with pytest.raises(TooManyConcurrentQueriesError), one.slot(org, limit=2):
            pass


def test_the_per_process_thread_share_refuses_at_once(fresh_db):
    limiter = InflightLimiter(fresh_db.app_url, process_threads=1)
    try:
        with limiter.slot(uuid.uuid4(), limit=2), pytest.raises(AgentCapacityError) as refused:
            with limiter.slot(uuid.uuid4(), limit=2):
                pass
        assert refused.value.status == 503 and refused.value.retry_after_s >= 1
        assert limiter.held() == 0, "a refused thread share gives its org slot back"
    finally:
        limiter.close()


def test_the_platform_limit_holds_across_orgs_and_processes_and_refuses_at_once(fresh_db):
    """ATLAS_QUERY_MAX_IN_FLIGHT_TOTAL: every org together, on every process; refused 503 at once, naming it."""
    one, two = (InflightLimiter(fresh_db.app_url, process_threads=4, platform_limit=2) for _ in range(2))
    try:
        with one.slot(uuid.uuid4(), limit=2), two.slot(uuid.uuid4(), limit=2):
            with pytest.raises(AgentPlatformBusyError) as refused, one.slot(uuid.uuid4(), limit=2):
                pass
            assert refused.value.status == 503 and refused.value.retry_after_s >= 1
            assert "ATLAS_QUERY_MAX_IN_FLIGHT_TOTAL" in refused.value.message
            assert one.held() == 2 and two.held() == 2, "a refused query gives its org slot back"
        with one.slot(uuid.uuid4(), limit=1), one.slot(uuid.uuid4(), limit=1):
            assert one.held() == 4
        assert one.held() == 0 and two.held() == 0
    finally:
        one.close()
        two.close()


def test_slots_vanish_with_a_dead_connection(limiters, fresh_db):
    one, two = limiters
    org = uuid.uuid4()
    with one.slot(org, limit=1):
        with psycopg.connect(fresh_db.admin_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                          " WHERE application_name = 'atlas-inflight' AND datname = current_database()")
        deadline = time.monotonic() + 5
        while True:
            try:
                with two.slot(org, limit=1):
                    break
            except TooManyConcurrentQueriesError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            except Exception:  # two's own connection was terminated too: it reconnects on the next call
                time.sleep(0.05)
    with one.slot(org, limit=1):  # one reconnects; its lost slot was never double-counted
        pass


def test_agent_sql_cannot_touch_advisory_locks(fresh_db):
    """Lock 1: the gateway refuses the functions; lock 2: the agent role may not execute them."""
    with pytest.raises(SqlRejectedError):
        prepare("SELECT pg_try_advisory_lock(1096043521, 1)", org_id=uuid.uuid4(), allowed_tables=(), row_limit=10)
    with psycopg.connect(fresh_db.agent_url, autocommit=True) as agent:
        for statement in ("SELECT pg_try_advisory_lock(1096043521, 1)", "SELECT pg_advisory_unlock(1096043521, 1)",
                          "SELECT pg_advisory_unlock_all()", "SELECT pg_try_advisory_xact_lock(1)"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                agent.execute(statement)
