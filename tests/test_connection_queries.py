"""Agent queries on an org's own datasource: no org predicate, and every other limit still holds."""
from __future__ import annotations

import psycopg
import pytest
from cryptography.fernet import Fernet
from psycopg import sql

from app.connections import Resolved
from app.errors.query import SqlRejectedError
from app.gateway.execute import execute
from app.gateway.result import PreparedQuery
from app.http.context import services
from app.limits.inflight import InflightLimiter
from app.query_settings import QuerySettings
from tests.support.api import TwoOrgs, two_org_world
from tests.support.datasource import SALES_ROWS, external_datasource
from tests.support.errors import error_code, error_of

QUERY, SETTINGS, CONNECTIONS = "/api/v1/query", "/api/v1/settings", "/api/v1/admin/connections"
SLOW = ("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 100000000) "
        "SELECT count(*) FROM t")
ENTITY = """table: sales
connection: sales-db
description: Sales in the org's own warehouse
dimensions:
  - {name: region, sql: region, type: string}
"""
MAX_BYTES = 20_000  # sales.note is 200 bytes a row: all of it is more


@pytest.fixture(scope="module")
def ds(db_factory):
    with external_datasource(db_factory) as datasource:
        yield datasource


@pytest.fixture(scope="module")
def world(db_factory, tmp_path_factory, ds):
    with two_org_world(db_factory, semantic_root=str(tmp_path_factory.mktemp("semantic")),
                       connection_keys=Fernet.generate_key().decode(),
                       connection_allowed_hosts=ds.allowed(database=True),
                       query_result_max_bytes=MAX_BYTES) as built:
        owner = built.user("a", "owner")
        assert owner.post(CONNECTIONS, json={"id": "sales-db", "url": ds.url()}).status_code == 201
        r = owner.put("/api/v1/admin/semantic/org/entities/sales_ext", json={"yamlContent": ENTITY})
        assert r.status_code in (200, 201), r.get_json()
        yield built


def ask(world: TwoOrgs, sql_text: str, *, org: str = "a", role: str = "member", connection: str | None = "sales-db"):
    body = {"sql": sql_text} if connection is None else {"sql": sql_text, "connectionId": connection}
    return world.user(org, role).post(QUERY, json=body)


@pytest.fixture
def org_settings(world):
    owner = world.user("a", "owner")

    def change(**values: object) -> None:
        assert owner.patch(SETTINGS, json=values).status_code == 200

    yield change
    change(queryRowLimit=None, queryStatementTimeoutMs=None, queryMaxInFlight=None)


def test_a_member_reads_the_orgs_datasource_without_an_org_predicate(world):
    r = ask(world, "SELECT region, count(*) AS n FROM sales GROUP BY region ORDER BY region")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["rows"] == [["east", 100], ["north", 100], ["south", 100]]
    with psycopg.connect(world.db.admin_url) as conn:
        detail = conn.execute("SELECT detail FROM audit_log WHERE org_id = %s AND action = 'query.run'"
                              " ORDER BY occurred_at DESC LIMIT 1", (world.org_a,)).fetchone()[0]
    assert detail["connectionId"] == "sales-db"


def test_only_the_connections_own_entities_tables_may_be_read(world):
    for text, table in (("SELECT * FROM payroll", "payroll"), ("SELECT name FROM accounts", "accounts")):
        r = ask(world, text)
        assert error_code(r) == "sql_rejected" and f"table {table} is not allowed" in error_of(r)["message"]
    r = ask(world, "SELECT count(*) FROM sales", connection=None)  # Atlas's own data has no sales
    assert error_code(r) == "sql_rejected"


@pytest.mark.parametrize("text", ["SELECT pg_sleep(1)", "SELECT set_config('role', 'postgres', false)",
                                  "SELECT pg_read_file('/etc/passwd')", "SELECT * FROM pg_catalog.pg_roles",
                                  "DELETE FROM sales"])
def test_the_gateway_rules_apply_on_the_datasource(world, text):
    assert error_code(ask(world, text)) in ("sql_rejected", "sql_invalid")


def test_the_transaction_is_read_only_even_for_a_role_that_may_write(world, ds):
    """Lock 2 alone: the org's role may advance a sequence; SQL that reached the database still cannot write."""
    with psycopg.connect(ds.admin_url, autocommit=True) as conn:
        conn.execute("CREATE SEQUENCE IF NOT EXISTS payroll_ids")
        conn.execute(sql.SQL("GRANT USAGE, UPDATE ON SEQUENCE payroll_ids TO {}").format(sql.Identifier(ds.role)))
    connections = services(world.app).connections
    resolved: Resolved = connections.resolve(world.org_a, "sales-db")
    query = PreparedQuery(sql="SELECT nextval('payroll_ids') AS id", org_id=world.org_a, row_limit=10,
                          tables=(), org_predicate=False)
    with connections.open_for_query(world.org_a, resolved) as conn:
        with pytest.raises(SqlRejectedError) as refused:
            execute(conn, query, settings=QuerySettings())
    assert "read-only transaction" in refused.value.message
    with psycopg.connect(ds.admin_url) as conn:
        assert conn.execute("SELECT is_called FROM payroll_ids").fetchone()[0] is False


def test_the_statement_timeout_holds(world, org_settings):
    org_settings(queryStatementTimeoutMs=100)
    r = ask(world, SLOW)
    assert error_code(r) == "query_timeout" and "100 ms" in error_of(r)["message"]


def test_the_row_limit_holds(world, org_settings):
    org_settings(queryRowLimit=5)
    body = ask(world, "SELECT id FROM sales ORDER BY id").get_json()
    assert body["rowCount"] == 5 and body["truncated"] and body["truncatedReason"] == "row_limit"


def test_the_byte_limit_holds(world):
    body = ask(world, "SELECT id, note FROM sales ORDER BY id").get_json()
    assert body["truncated"] and body["truncatedReason"] == "result_bytes"
    assert 0 < body["rowCount"] < SALES_ROWS
    assert sum(len(str(v)) for row in body["rows"] for v in row) <= MAX_BYTES


def test_the_in_flight_limit_holds(world, org_settings):
    org_settings(queryMaxInFlight=1)
    other_worker = InflightLimiter(services(world.app).settings.database.app_database_url, process_threads=2)
    try:
        with other_worker.slot(world.org_a, limit=1):
            r = ask(world, "SELECT max(id) AS top FROM sales WHERE id < 7")
            assert r.status_code == 429 and error_code(r) == "too_many_concurrent_queries"
        assert ask(world, "SELECT max(id) AS top FROM sales WHERE id < 7").status_code == 200
    finally:
        other_worker.close()


def test_the_cache_is_keyed_by_connection_and_its_version(world, ds):
    text = "SELECT 41 + 1 AS answer"
    assert ask(world, text, connection=None).get_json()["cached"] is False
    first = ask(world, text).get_json()
    assert first["cached"] is False, "a default-data entry must not answer for the datasource"
    assert ask(world, text).get_json()["cached"] is True
    owner = world.user("a", "owner")
    assert owner.patch(f"{CONNECTIONS}/sales-db", json={"description": "edited"}).status_code == 200
    assert ask(world, text).get_json()["cached"] is False, "an edited connection retires its results"


def test_the_datasources_pool_is_the_orgs_counted_and_shown_to_its_admins_only(world):
    assert ask(world, "SELECT count(*) AS n FROM sales").status_code == 200
    body = world.user("a", "admin").get(CONNECTIONS).get_json()
    rows = [row for row in body["orgs"] if row["datasource"] == "connection:sales-db"]
    assert rows and rows[0]["org_id"] == str(world.org_a) and rows[0]["checkouts"] >= 1
    assert body["totals"]["reserved_connections"] >= services(world.app).pools.config.org_datasource_max_connections
    other = world.user("b", "admin").get(CONNECTIONS).get_json()
    assert not [row for row in other["orgs"] if row["datasource"].startswith("connection:")]


def test_org_b_naming_org_as_connection_is_404_and_audited_in_b(world):
    r = ask(world, "SELECT count(*) FROM sales", org="b")
    assert r.status_code == 404 and error_code(r) == "not_found"
    with psycopg.connect(world.db.admin_url) as conn:
        refused = conn.execute("SELECT org_id, detail->>'connectionId' FROM audit_log WHERE action = 'query.refused'"
                               " ORDER BY occurred_at DESC LIMIT 1").fetchone()
    assert refused == (world.org_b, "sales-db")


def test_a_superuser_datasource_role_is_refused_at_test_and_at_query_time(world, ds):
    """A role that could leave the read-only transaction or bypass RLS is never used."""
    role = ds.role + "_su"
    with psycopg.connect(ds.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER").format(sql.Identifier(role)))
    try:
        owner = world.user("a", "owner")
        url = f"postgresql://{role}@{ds.host}:{ds.port}/{ds.dbname}"
        assert owner.post(CONNECTIONS, json={"id": "too-strong", "url": url}).status_code == 201
        tested = owner.post(f"{CONNECTIONS}/too-strong/test").get_json()
        assert tested["ok"] is False and "superuser" in tested["error"]
        r = ask(world, "SELECT 1 AS one", connection="too-strong")
        assert r.status_code == 503 and error_code(r) == "connection_failed"
        assert "superuser" in error_of(r)["message"]
        assert owner.delete(f"{CONNECTIONS}/too-strong").status_code == 204
    finally:
        with psycopg.connect(ds.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_deleting_a_connection_closes_its_pool_and_its_queries_stop(world, ds):
    owner = world.user("a", "owner")
    assert owner.post(CONNECTIONS, json={"id": "short-lived", "url": ds.url()}).status_code == 201
    assert ask(world, "SELECT 7 AS n", connection="short-lived").status_code == 200
    registry = services(world.app).pools
    unit = registry.admission.lru.lookup(world.org_a, "connection:short-lived")
    assert unit is not None and unit.pool is not None
    assert owner.delete(f"{CONNECTIONS}/short-lived").status_code == 204
    assert unit.disposed and unit.pool.closed
    assert registry.admission.lru.lookup(world.org_a, "connection:short-lived") is None
    assert error_code(ask(world, "SELECT 7 AS n", connection="short-lived")) == "not_found"
