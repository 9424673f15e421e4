"""POST /api/v1/query and the cache flush, end to end, against both cache backends.

Each backend gets its own database, two orgs built through the API, a semantic
layer declaring `accounts` per org, and (for Redis) a key prefix of its own
that is deleted afterwards. Rows are seeded as the superuser; what a member
gets back is compared with what is really in that org.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
import redis

from app.http.context import services
from tests.support import rows
from tests.support.api import ApiUser, TwoOrgs, build_two_orgs, close_app, make_app
from tests.support.errors import error_of

QUERY = "/api/v1/query"
FLUSH = "/api/v1/admin/cache/flush"
SETTINGS = "/api/v1/settings"
NAMES = "SELECT name FROM accounts ORDER BY name"
SLOW = ("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 100000000) "
        "SELECT count(*) FROM t")


def entity(table: str) -> str:
    return f"table: {table}\ndescription: {table}\ndimensions:\n  - name: name\n    sql: name\n    type: string\n"


@dataclass
class World:
    orgs: TwoOrgs
    backend: str
    names: dict[str, list[str]]
    prefix: str

    def user(self, org: str, role: str) -> ApiUser:
        return self.orgs.user(org, role)

    def entries(self, org: str | None = None) -> int:
        cache = services(self.orgs.app).cache
        assert cache is not None
        return cache.entries(None if org is None else str(self.orgs.org(org)))

    def audit(self, org: str, action: str) -> list[tuple]:
        with psycopg.connect(self.orgs.db.admin_url) as conn:
            return conn.execute(
                "SELECT outcome, detail->>'sql', detail->>'code', actor_user_id FROM audit_log"
                " WHERE org_id = %s AND action = %s AND entity = 'query' ORDER BY occurred_at, id",
                (self.orgs.org(org), action)).fetchall()


def redis_prefix() -> str:
    return f"atlas-test:{uuid.uuid4().hex[:12]}"


def delete_prefix(prefix: str) -> None:
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def cache_config(backend: str, prefix: str) -> dict[str, object]:
    config: dict[str, object] = {"cache_backend": backend}
    if backend == "redis":
        config.update(cache_redis_url="redis://127.0.0.1:6379/0", cache_key_prefix=prefix)
    return config


def seed(orgs: TwoOrgs) -> dict[str, list[str]]:
    names = {"a": ["Acme East", "Acme West"], "b": ["Globex Main"]}
    with psycopg.connect(orgs.db.admin_url, autocommit=True) as conn:
        for org, org_names in names.items():
            for name in org_names:
                rows.insert_row(conn, "accounts", orgs.org(org), name=name)
    for org in ("a", "b"):
        r = orgs.user(org, "owner").put("/api/v1/admin/semantic/org/entities/accounts",
                                        json={"yamlContent": entity("accounts")})
        assert r.status_code == 201, r.get_json()
    return names


@pytest.fixture(scope="module", params=["memory", "redis"])
def world(request, db_factory, tmp_path_factory) -> Iterator[World]:
    db = db_factory.clone()
    prefix = redis_prefix()
    app = make_app(db, semantic_root=str(tmp_path_factory.mktemp("semantic")),
                   **cache_config(request.param, prefix))
    try:
        orgs = build_two_orgs(app, db)
        yield World(orgs=orgs, backend=request.param, names=seed(orgs), prefix=prefix)
    finally:
        close_app(app)
        delete_prefix(prefix)
        db_factory.drop(db.name)


@pytest.fixture
def flushed(world: World) -> World:
    """Each test starts with an empty cache."""
    cache = services(world.orgs.app).cache
    assert cache is not None
    cache.flush_all()
    return world


def run(user: ApiUser, sql: str):  # type: ignore[no-untyped-def]
    return user.post(QUERY, json={"sql": sql})


def names_of(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.get_json()
    return [row[0] for row in response.get_json()["rows"]]


# ----- answering -------------------------------------------------------------------------------------

def test_a_member_gets_its_orgs_rows_in_the_documented_shape(flushed):
    r = run(flushed.user("a", "member"), NAMES)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body == {"columns": [{"name": "name", "type": "text"}],
                    "rows": [[n] for n in flushed.names["a"]], "rowCount": 2, "truncated": False, "cached": False}


def test_queries_run_on_the_agent_roles_own_connections(flushed):
    assert run(flushed.user("a", "member"), NAMES).status_code == 200
    agent = flushed.orgs.db.roles.agent
    with psycopg.connect(flushed.orgs.db.admin_url) as conn:
        sessions = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND datname = %s",
                                (agent, flushed.orgs.db.name)).fetchone()[0]
    assert sessions >= 1


def test_every_answered_query_is_audited_with_its_sql(flushed):
    member = flushed.user("a", "member")
    before = len(flushed.audit("a", "query.run"))
    assert run(member, NAMES).status_code == 200
    entries = flushed.audit("a", "query.run")
    assert len(entries) == before + 1
    assert entries[-1][:2] == ("ok", NAMES) and entries[-1][3] == member.user_id


def test_the_same_query_again_is_served_from_the_cache(flushed):
    member = flushed.user("a", "member")
    first = run(member, NAMES).get_json()
    second = run(member, "select   name from ACCOUNTS  order by name").get_json()  # same normalized SQL
    assert first["cached"] is False and second["cached"] is True
    assert {**second, "cached": False} == first
    assert flushed.entries("a") == 1


def test_a_cached_answer_keeps_exact_values(flushed):
    """Numbers, timestamps and nulls survive the cache (JSON in Redis) unchanged."""
    sql = ("SELECT count(*) AS n, min(created_at) AS first, sum(annual_revenue) AS revenue, "
           "1.5::numeric AS x FROM accounts")
    member = flushed.user("a", "member")
    first, second = run(member, sql).get_json(), run(member, sql).get_json()
    assert second["cached"] is True and {**second, "cached": False} == first
    assert first["rows"][0][0] == 2 and first["rows"][0][2] is None and first["rows"][0][3] == 1.5


def test_entries_live_in_the_configured_backend_under_the_orgs_prefix(flushed):
    run(flushed.user("a", "member"), NAMES)
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        keys = [k.decode() for k in client.scan_iter(match=f"{flushed.prefix}:*")]
    finally:
        client.close()
    entry_keys = [k for k in keys if not k.endswith((":index", ":orgs")) and ":rl:" not in k]
    if flushed.backend == "redis":
        assert len(entry_keys) == 1 and entry_keys[0].startswith(f"{flushed.prefix}:{flushed.orgs.org_a}:")
    else:
        assert entry_keys == [] and flushed.entries("a") == 1


def test_same_sql_in_two_orgs_is_two_entries_and_b_never_gets_as_rows(flushed):
    a, b = flushed.user("a", "member"), flushed.user("b", "member")
    assert names_of(run(a, NAMES)) == flushed.names["a"]
    r = run(b, NAMES)
    assert names_of(r) == flushed.names["b"] and r.get_json()["cached"] is False
    again = run(b, NAMES)
    assert names_of(again) == flushed.names["b"] and again.get_json()["cached"] is True
    assert flushed.entries("a") == 1 and flushed.entries("b") == 1


def test_roles_are_part_of_the_key(flushed):
    run(flushed.user("a", "member"), NAMES)
    r = run(flushed.user("a", "admin"), NAMES)
    assert r.get_json()["cached"] is False and flushed.entries("a") == 2


# ----- refusals ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("sql", "code", "named"), [
    ("DELETE FROM accounts", "sql_rejected", "DELETE"),
    ("SELECT * FROM pg_catalog.pg_authid", "sql_rejected", "pg_authid"),
    ("SELECT name FROM contacts", "sql_rejected", "contacts"),  # not in the org's semantic layer
    ("SELECT pg_sleep(5)", "sql_rejected", "pg_sleep"),
    # issue 27: 200 MB built inside one backend for one small row; refused before it runs
    ("SELECT length(string_agg(format('%20000000s', g::text), '')) AS n FROM generate_series(1,10) g",
     "sql_rejected", "string_agg builds one value from every row"),
    ("SELECT length(string_agg(format('%20000000s', g::text), '')) FROM (SELECT g FROM generate_series(1, 10) g "
     "LIMIT 10) t", "sql_rejected", "ATLAS_QUERY_MAX_VALUE_BYTES"),
    ("SELECT name FROM accounts WHERE org_id <> '00000000-0000-4000-8000-0000000000bb'", "sql_rejected",
     "org_id may not be named"),  # the org is the gateway's to set (app/gateway/tenancy.py)
    ("SELEC name FROM accounts", "sql_invalid", ""),
    ("", "sql_invalid", ""),
])
def test_a_refused_query_is_400_naming_the_construct_and_audited_with_its_sql(flushed, sql, code, named):
    member = flushed.user("a", "member")
    before = len(flushed.audit("a", "query.refused"))
    r = run(member, sql)
    assert r.status_code == 400 and error_of(r)["code"] == code, r.get_json()
    assert named.lower() in error_of(r)["message"].lower()
    entries = flushed.audit("a", "query.refused")
    assert len(entries) == before + 1
    assert entries[-1][:3] == ("refused", sql, code) and entries[-1][3] == member.user_id
    assert flushed.entries() == 0


def test_a_body_without_sql_text_is_refused_and_audited(flushed):
    before = len(flushed.audit("a", "query.refused"))
    r = flushed.user("a", "member").post(QUERY, json={"sql": ["SELECT 1"]})
    assert r.status_code == 400 and error_of(r)["code"] == "validation_error"
    assert len(flushed.audit("a", "query.refused")) == before + 1


def test_a_statement_timeout_is_query_timeout_not_a_server_error(flushed):
    owner = flushed.user("a", "owner")
    assert owner.patch(SETTINGS, json={"queryStatementTimeoutMs": 100}).status_code == 200
    try:
        r = run(flushed.user("a", "member"), SLOW)
        assert r.status_code == 400, r.get_json()
        error = error_of(r)
        assert error["code"] == "query_timeout" and "100 ms" in error["message"]
        assert flushed.audit("a", "query.refused")[-1][:3] == ("refused", SLOW, "query_timeout")
    finally:
        assert owner.patch(SETTINGS, json={"queryStatementTimeoutMs": None}).status_code == 200


def test_another_orgs_id_in_the_body_is_refused(flushed):
    r = flushed.user("a", "member").post(QUERY, json={"sql": NAMES, "orgId": str(flushed.orgs.org_b)})
    assert r.status_code == 403 and error_of(r)["code"] == "cross_org_refused"


# ----- retiring and flushing ---------------------------------------------------------------------------

def test_a_settings_change_retires_the_orgs_cached_results(flushed):
    member, owner = flushed.user("a", "member"), flushed.user("a", "owner")
    assert run(member, NAMES).get_json()["cached"] is False
    assert run(member, NAMES).get_json()["cached"] is True
    assert owner.patch(SETTINGS, json={"queryRatePerMinute": 500}).status_code == 200
    try:
        after = run(member, NAMES).get_json()
        assert after["cached"] is False and [r[0] for r in after["rows"]] == flushed.names["a"]
    finally:
        owner.patch(SETTINGS, json={"queryRatePerMinute": None})


def test_a_semantic_layer_change_retires_the_orgs_cached_results(flushed):
    member, owner = flushed.user("a", "member"), flushed.user("a", "owner")
    run(member, NAMES)
    assert run(member, NAMES).get_json()["cached"] is True
    put = owner.put("/api/v1/admin/semantic/org/entities/accounts",
                    json={"yamlContent": entity("accounts").replace("description: accounts", "description: v2")})
    assert put.status_code == 200 and put.get_json()["changed"] is True
    assert run(member, NAMES).get_json()["cached"] is False
    # B's layer did not change: its entries stay valid
    b = flushed.user("b", "member")
    run(b, NAMES)
    assert run(b, NAMES).get_json()["cached"] is True


def test_an_org_admin_flushes_its_own_org_only(flushed):
    for org in ("a", "b"):
        run(flushed.user(org, "member"), NAMES)
    r = flushed.user("a", "admin").post(FLUSH, json={})
    assert r.status_code == 200 and r.get_json() == {"scope": "organization", "flushed": 1}
    assert flushed.entries("a") == 0 and flushed.entries("b") == 1
    assert run(flushed.user("b", "member"), NAMES).get_json()["cached"] is True


@pytest.mark.parametrize(("role", "scope"), [("member", "organization"), ("owner", "all"), ("admin", "all")])
def test_members_cannot_flush_and_org_admins_cannot_flush_everything(flushed, role, scope):
    for org in ("a", "b"):
        run(flushed.user(org, "member"), NAMES)
    r = flushed.user("a", role).post(FLUSH, json={"scope": scope})
    assert r.status_code == 403 and error_of(r)["code"] == "forbidden"
    assert flushed.entries("a") == 1 and flushed.entries("b") == 1


def test_a_platform_admin_flushes_every_org_and_it_is_audited(flushed):
    for org in ("a", "b"):
        run(flushed.user(org, "member"), NAMES)
    admin = flushed.user("b", "owner")
    with psycopg.connect(flushed.orgs.db.admin_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET platform_role = 'admin' WHERE id = %s", (admin.user_id,))
    try:
        r = admin.post(FLUSH, json={"scope": "all"})
        assert r.status_code == 200 and r.get_json() == {"scope": "all", "flushed": 2}
        assert flushed.entries() == 0
        with psycopg.connect(flushed.orgs.db.admin_url) as conn:
            assert conn.execute("SELECT count(*) FROM platform_audit WHERE action = 'query_cache.flush_all'"
                                " AND actor_user_id = %s", (admin.user_id,)).fetchone()[0] >= 1
    finally:
        with psycopg.connect(flushed.orgs.db.admin_url, autocommit=True) as conn:
            conn.execute("UPDATE users SET platform_role = 'user' WHERE id = %s", (admin.user_id,))


# ----- per-org limits ----------------------------------------------------------------------------------

def test_the_orgs_row_limit_truncates_its_answers(flushed):
    owner = flushed.user("a", "owner")
    assert owner.patch(SETTINGS, json={"queryRowLimit": 1}).status_code == 200
    try:
        body = run(flushed.user("a", "member"), NAMES).get_json()
        assert body["rows"] == [[flushed.names["a"][0]]] and body["truncated"] is True and body["rowCount"] == 1
        assert run(flushed.user("b", "member"), NAMES).get_json()["truncated"] is False
    finally:
        owner.patch(SETTINGS, json={"queryRowLimit": None})


@pytest.fixture
def limited(world: World) -> Iterator[tuple[World, object]]:
    """A second app on the world's database; org A's rate is 3 per minute, its window emptied.

    The limit is shared by every app on the database, so earlier tests' queries count
    unless the window is emptied here.
    """
    prefix = redis_prefix()
    with psycopg.connect(world.orgs.db.admin_url, autocommit=True) as conn:
        conn.execute("DELETE FROM query_rate_log WHERE org_id = %s", (world.orgs.org_a,))
    app = make_app(world.orgs.db, semantic_root=query_semantic_root(world), **cache_config(world.backend, prefix))
    owner = world.user("a", "owner")
    assert owner.patch(SETTINGS, json={"queryRatePerMinute": 3}).status_code == 200
    try:
        yield world, app
    finally:
        owner.patch(SETTINGS, json={"queryRatePerMinute": None})
        close_app(app)
        delete_prefix(prefix)


def query_semantic_root(world: World) -> str:
    return services(world.orgs.app).settings.semantic.root


def on(app, user: ApiUser) -> ApiUser:  # type: ignore[no-untyped-def]
    return ApiUser(client=app.test_client(), token=user.token, user_id=user.user_id, email=user.email,
                   org_id=user.org_id, role=user.role)


def test_an_org_over_its_rate_gets_429_while_another_org_is_served(limited):
    world, app = limited
    a, b = on(app, world.user("a", "member")), on(app, world.user("b", "member"))
    for _ in range(3):
        assert run(a, NAMES).status_code == 200
    refused = run(a, NAMES)
    assert refused.status_code == 429 and error_of(refused)["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "queryRatePerMinute" in error_of(refused)["message"]
    for _ in range(5):
        assert names_of(run(b, NAMES)) == world.names["b"]
