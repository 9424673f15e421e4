"""Bounded agent results (bytes, enforced by PostgreSQL), a byte-bounded memory cache, every agent SQL
error answered 400 and audited, and the app role's lock and statement timeouts answered 409 / 503."""
from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial

import psycopg
import pytest

from app.cache import MemoryCache, result_bytes
from app.gateway import CacheKey, QueryResult
from tests.support.api import TwoOrgs, build_two_orgs, close_app, make_app
from tests.support.errors import error_of
from tests.support.serving import atlas_serve, request

_request = partial(request, timeout_s=60, timed=True)  # -> (status, headers, body, seconds)

QUERY = "/api/v1/query"
HUGE_ROWS = "SELECT format('%12000000s', 'x') FROM generate_series(1, 17)"  # 204 MB as text: 12 MB rows, each within ATLAS_QUERY_MAX_VALUE_BYTES


def _entity(table: str) -> str:
    return f"table: {table}\ndescription: {table}\ndimensions:\n  - name: name\n    sql: name\n    type: string\n"


@pytest.fixture(scope="module")
def world(db_factory, tmp_path_factory) -> Iterator[TwoOrgs]:  # type: ignore[no-untyped-def]
    db = db_factory.clone()
    app = make_app(db, semantic_root=str(tmp_path_factory.mktemp("semantic")), cache_backend="none",
                   query_result_max_bytes=200, app_lock_timeout_ms=300, app_statement_timeout_ms=5_000)
    try:
        orgs = build_two_orgs(app, db)
        with psycopg.connect(db.admin_url, autocommit=True) as conn:
            for n in range(50):
                conn.execute("INSERT INTO accounts (org_id, name) VALUES (%s, %s)", (orgs.org("a"), f"acct {n:02d}"))
        r = orgs.user("a", "owner").put("/api/v1/admin/semantic/org/entities/accounts",
                                        json={"yamlContent": _entity("accounts")})
        assert r.status_code == 201, r.get_json()
        yield orgs
    finally:
        close_app(app)
        db_factory.drop(db.name)


def _refusals(orgs: TwoOrgs) -> list[tuple]:
    with psycopg.connect(orgs.db.admin_url) as conn:
        return conn.execute("SELECT detail->>'sql', detail->>'code' FROM audit_log WHERE org_id = %s"
                            " AND action = 'query.refused' ORDER BY occurred_at, id", (orgs.org("a"),)).fetchall()


# ----- the byte budget -------------------------------------------------------------------------------

def test_rows_stop_at_the_byte_budget_and_say_why(world):
    body = world.user("a", "member").post(QUERY, json={"sql": "SELECT name FROM accounts ORDER BY name"}).get_json()
    assert body["truncated"] is True and body["truncatedReason"] == "result_bytes"
    names = [row[0] for row in body["rows"]]
    assert 0 < len(names) < 50 and names == [f"acct {n:02d}" for n in range(len(names))], "a prefix, in order"
    assert sum(len(name) + 2 for name in names) <= 200  # each row as text: "(acct 00)"


def test_a_single_row_over_the_budget_is_never_fetched(world):
    body = world.user("a", "member").post(QUERY, json={"sql": HUGE_ROWS}).get_json()
    assert body == {"columns": [{"name": "format", "type": "text"}], "rows": [], "rowCount": 0,
                    "truncated": True, "cached": False, "truncatedReason": "result_bytes"}


def test_a_query_naming_the_envelopes_row_is_refused(world):
    r = world.user("a", "member").post(QUERY, json={"sql": "SELECT name AS atlas_row FROM accounts"})
    assert r.status_code == 400 and error_of(r)["code"] == "sql_rejected"


def _worker_rss_kib(master_pid: int) -> int:
    with open(f"/proc/{master_pid}/task/{master_pid}/children") as listing:
        children = listing.read().split()
    assert len(children) == 1, children
    with open(f"/proc/{children[0]}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_server_worker_stays_bounded_on_a_result_far_larger_than_the_budget(fresh_db, tmp_path):
    """204 MB of rows against the default 10 MB budget: the worker grows by far less than the result."""
    with atlas_serve(fresh_db, tmp_path / "serve.log", workers=1, threads=2) as server:
        port = server.port
        _, _, body, _ = _request(port, "POST", "/api/auth/sign-up/email",
                                 {"email": "big@budget.test", "password": "long enough", "name": "B"})
        token = body["token"]
        _, _, org, _ = _request(port, "POST", "/api/auth/organization/create", {"name": "B", "slug": "b"}, token)
        _, headers, _, _ = _request(port, "POST", "/api/auth/organization/set-active", {"organizationId": org["id"]},
                                    token)
        token = headers["set-auth-token"]
        _request(port, "POST", QUERY, {"sql": "SELECT 1"}, token)  # warm up
        before = _worker_rss_kib(server.pid)
        for sql_text in (HUGE_ROWS, "SELECT format('%3000000s', g) FROM generate_series(1, 60) g"):
            status, _, body, _ = _request(port, "POST", QUERY, {"sql": sql_text}, token)
            assert status == 200 and body["truncated"] is True and body["truncatedReason"] == "result_bytes"
            assert sum(len(row[0]) for row in body["rows"]) <= 10 * 1024 * 1024
        grown_mib = (_worker_rss_kib(server.pid) - before) / 1024
        print(f"worker RSS grew {grown_mib:.1f} MiB")
        assert grown_mib < 100, f"the worker grew by {grown_mib:.0f} MiB for 200 MB results"


# ----- the memory cache ------------------------------------------------------------------------------

def _result(byte_size: int) -> QueryResult:
    return QueryResult(columns=({"name": "x", "type": "text"},), rows=(("x" * 10,),), truncated=False,
                       byte_size=byte_size)


def test_the_memory_cache_evicts_by_bytes_and_skips_oversized_results():
    cache = MemoryCache(ttl_s=60, max_size=1000, max_bytes=10_000, max_entry_bytes=5_000)
    keys = [CacheKey(sql=f"SELECT {n}", org_id="org") for n in range(4)]
    for key in keys[:3]:
        cache.put(key, _result(3_500))
    assert cache.get(keys[0]) is None and cache.get(keys[1]) is not None and cache.get(keys[2]) is not None
    assert cache.bytes_used == 2 * result_bytes(_result(3_500)) <= 10_000
    cache.put(keys[3], _result(6_000))
    assert cache.get(keys[3]) is None, "a result over CACHE_MAX_ENTRY_BYTES is not cached"
    assert cache.flush_all() == 2 and cache.bytes_used == 0


# ----- agent SQL errors ------------------------------------------------------------------------------

@pytest.mark.parametrize("sql_text", [
    "SELECT nosuch FROM accounts",
    "SELECT name FROM accounts a JOIN accounts b ON true",
    "SELECT name::integer FROM accounts",
    "SELECT ctid FROM accounts",
])
def test_every_agent_sql_error_is_400_and_audited_every_time(world, sql_text):
    member = world.user("a", "member")
    before = len(_refusals(world))
    for _ in range(8):  # the escaped error was intermittent
        r = member.post(QUERY, json={"sql": sql_text})
        assert r.status_code == 400, r.get_json()
        assert error_of(r)["code"] in ("sql_invalid", "sql_rejected")
    refusals = _refusals(world)
    assert len(refusals) == before + 8 and all(entry[0] == sql_text for entry in refusals[before:])


# ----- the app role's timeouts -----------------------------------------------------------------------

@pytest.fixture
def locked_account(world) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A row of org a that a test-side transaction holds locked."""
    account = world.user("a", "owner").post("/api/v1/accounts", json={"name": "locked"}).get_json()["id"]
    with psycopg.connect(world.db.admin_url) as holder:
        holder.execute("SELECT 1 FROM accounts WHERE id = %s FOR UPDATE", (account,))
        yield account
        holder.rollback()


def test_a_write_blocked_past_the_lock_timeout_is_409(world, locked_account):
    started = time.monotonic()
    r = world.user("a", "owner").patch(f"/api/v1/accounts/{locked_account}", json={"name": "mine"})
    assert r.status_code == 409 and error_of(r)["code"] == "lock_timeout", r.get_json()
    assert int(r.headers["Retry-After"]) >= 1 and "ATLAS_APP_LOCK_TIMEOUT_MS" in error_of(r)["message"]
    assert time.monotonic() - started < 3, "answered at the 300 ms lock timeout, not held"


def test_a_statement_past_the_statement_timeout_is_503(db_factory, tmp_path):
    with db_factory.cloned() as db:
        app = make_app(db, semantic_root=str(tmp_path), app_lock_timeout_ms=0, app_statement_timeout_ms=300)
        try:
            orgs = build_two_orgs(app, db)
            owner = orgs.user("a", "owner")
            account = owner.post("/api/v1/accounts", json={"name": "slow"}).get_json()["id"]
            with psycopg.connect(db.admin_url) as holder:
                holder.execute("SELECT 1 FROM accounts WHERE id = %s FOR UPDATE", (account,))
                r = owner.patch(f"/api/v1/accounts/{account}", json={"name": "mine"})
                holder.rollback()
            assert r.status_code == 503 and error_of(r)["code"] == "statement_timeout", r.get_json()
            assert int(r.headers["Retry-After"]) >= 1
        finally:
            close_app(app)
