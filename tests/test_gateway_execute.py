"""Execution under lock 2: agent role, read-only transaction, org setting, limits, one statement."""
from __future__ import annotations

import json
import uuid
from dataclasses import replace

import psycopg
import pytest

from app import cli
from app.errors.query import SqlInvalidError, SqlRejectedError
from app.gateway import CacheKey, QueryResult, prepare, run_query
from app.gateway.execute import execute
from app.gateway.result import PreparedQuery
from app.query_settings import CRM_TABLES, QuerySettings
from tests.gateway_corpus.compare import fetch_superuser
from tests.gateway_corpus.seed import seeded


@pytest.fixture(scope="module")
def data(db_factory):
    return seeded(db_factory, solo_for=("orga",))


def _agent(data):
    return lambda: psycopg.connect(data.full.agent_url, autocommit=True)


def _superuser(url: str, sql_text: str) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        return fetch_superuser(conn, sql_text)


def _raw(data, sql_text: str, *, slug: str = "orga", row_limit: int = 100) -> PreparedQuery:
    """A PreparedQuery that skips the gateway: what lock 2 alone must withstand."""
    return PreparedQuery(sql=sql_text, org_id=data.orgs[slug], row_limit=row_limit, tables=())


def test_run_query_returns_the_orgs_rows_with_columns_and_types(data):
    result = run_query("SELECT name, employee_count FROM accounts ORDER BY name, id",
                       org_id=data.orgs["orga"], connect=_agent(data))
    truth = _superuser(data.solo["orga"].admin_url, "SELECT name, employee_count FROM accounts ORDER BY name, id")
    assert [tuple(r) for r in result.rows] == truth
    assert result.columns == ({"name": "name", "type": "text"}, {"name": "employee_count", "type": "int4"})
    body = result.to_json()
    assert set(body) == {"columns", "rows", "rowCount", "truncated", "cached"}
    assert body["rowCount"] == len(truth) and body["truncated"] is False and body["cached"] is False
    json.dumps(body)  # every value is JSON-ready


def test_row_limit_truncates_and_reports_it(data):
    settings = QuerySettings(row_limit=5)
    result = run_query("SELECT id FROM contacts", org_id=data.orgs["orga"], connect=_agent(data), settings=settings)
    assert result.row_count == 5 and result.truncated is True


def test_an_exact_fit_is_not_truncated(data):
    count = run_query("SELECT count(*) FROM sites", org_id=data.orgs["orga"], connect=_agent(data)).rows[0][0]
    settings = QuerySettings(row_limit=count)
    result = run_query("SELECT id FROM sites", org_id=data.orgs["orga"], connect=_agent(data), settings=settings)
    assert result.row_count == count and result.truncated is False


@pytest.mark.parametrize(
    "sql_text",
    [
        "SELECT name FROM accounts ORDER BY name DESC, id",
        "SELECT name FROM accounts ORDER BY name DESC, id LIMIT 50",
        "(SELECT name, id FROM accounts) ORDER BY name DESC, id",
        "SELECT name FROM accounts UNION SELECT company FROM leads ORDER BY 1 DESC",
        "SELECT id FROM leads ORDER BY score DESC, id OFFSET 1",
    ],
)
def test_row_limit_keeps_the_queries_order(data, sql_text):
    result = run_query(sql_text, org_id=data.orgs["orga"], connect=_agent(data))
    assert [tuple(r) for r in result.rows] == _superuser(data.solo["orga"].admin_url, sql_text)


def test_the_transaction_is_read_only_org_scoped_and_bounded(data):
    settings = QuerySettings(statement_timeout_ms=1234, work_mem_kb=4096)
    query = _raw(data, "SELECT current_setting('transaction_read_only'), current_setting('app.org_id'), "
                       "current_setting('statement_timeout'), current_setting('work_mem'), current_user, "
                       "current_setting('max_parallel_workers_per_gather')")
    with _agent(data)() as conn:
        result = execute(conn, query, settings=settings)
        after = conn.execute("SELECT current_setting('app.org_id', true), current_setting('work_mem')").fetchone()
    assert result.rows[0] == ("on", str(data.orgs["orga"]), "1234ms", "4MB", data.full.roles.agent, "0")
    assert after[0] in (None, "") and after[1] != "4MB", "SET LOCAL values must die with the transaction"


def test_lock_two_alone_shows_only_the_orgs_rows(data):
    """Without the rewrite, RLS on the agent role still shows one org."""
    with _agent(data)() as conn:
        result = execute(conn, _raw(data, "SELECT DISTINCT org_id FROM contacts"), settings=QuerySettings())
    assert result.rows == ((data.orgs["orga"],),)


def _advisory_lock_held(admin_url: str, key: int) -> bool:
    with psycopg.connect(admin_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s", (key,)
        ).fetchone()
    return bool(row and row[0])


def test_a_smuggled_second_statement_cannot_run(data):
    """Extended protocol: PostgreSQL refuses a second statement and runs neither.

    Inside the byte-budget envelope (app/gateway/result_budget.py) the `;` is
    already a syntax error; the extended protocol would refuse it otherwise.
    """
    smuggled = _raw(data, "SELECT 1; SELECT pg_advisory_lock(4242)")
    with _agent(data)() as conn:
        with pytest.raises(SqlInvalidError, match="multiple commands|syntax error"):
            execute(conn, smuggled, settings=QuerySettings())
        assert not _advisory_lock_held(data.full.admin_url, 4242)
        assert conn.execute("SELECT 1").fetchone() == (1,), "the connection is usable afterwards"


def test_psycopg_without_a_pipeline_would_run_both_statements(data):
    """Why execute() pipelines: an empty parameter list still takes the simple protocol.

    (The agent may no longer call advisory-lock functions, sql/060_inflight.sql,
    so the second statement's trace is a session setting.)
    """
    with _agent(data)() as conn:
        conn.execute("SELECT 1; SET application_name = 'smuggled_4243'", [])
        assert conn.execute("SHOW application_name").fetchone() == ("smuggled_4243",)


def test_statement_timeout_refuses_and_leaves_the_connection_clean(data):
    with _agent(data)() as conn:
        with pytest.raises(SqlRejectedError, match="statement_timeout"):
            execute(conn, _raw(data, "SELECT pg_sleep(2)"), settings=QuerySettings(statement_timeout_ms=100))
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_a_query_error_is_reported_as_invalid_sql(data):
    with pytest.raises(SqlInvalidError, match="no_such_column"):
        run_query("SELECT no_such_column FROM accounts", org_id=data.orgs["orga"], connect=_agent(data))


def test_writes_are_refused_by_the_database_too(data):
    with _agent(data)() as conn, pytest.raises(SqlRejectedError):
        # RETURNING: the byte-budget envelope reads the statement as a CTE
        execute(conn, _raw(data, "DELETE FROM contacts RETURNING id"), settings=QuerySettings())
    assert _superuser(data.full.admin_url, "SELECT count(*) FROM contacts")[0][0] > 0


class _DictCache:
    """A real (if tiny) cache: what run_query's seam expects."""

    def __init__(self) -> None:
        self.entries: dict[CacheKey, QueryResult] = {}

    def get(self, key: CacheKey) -> QueryResult | None:
        return self.entries.get(key)

    def put(self, key: CacheKey, result: QueryResult) -> None:
        self.entries[key] = result


def test_cache_seam_serves_hits_per_org(data):
    cache = _DictCache()
    sql_text = "SELECT count(*) FROM contacts"
    first = run_query(sql_text, org_id=data.orgs["orga"], connect=_agent(data), cache=cache)
    second = run_query(sql_text, org_id=data.orgs["orga"], connect=_agent(data), cache=cache)
    other = run_query(sql_text, org_id=data.orgs["orgb"], connect=_agent(data), cache=cache)
    assert (first.cached, second.cached, other.cached) == (False, True, False)
    assert second.rows == first.rows != other.rows
    assert len(cache.entries) == 2 and {k.org_id for k in cache.entries} == {
        str(data.orgs["orga"]), str(data.orgs["orgb"])}


def test_cache_is_not_consulted_for_a_refused_query(data):
    cache = _DictCache()
    with pytest.raises(SqlRejectedError):
        run_query("SELECT * FROM pg_class", org_id=data.orgs["orga"], connect=_agent(data), cache=cache)
    assert cache.entries == {}


def test_prepared_sql_differs_per_org_and_row_limit(data):
    a = prepare("SELECT 1 FROM accounts", org_id=data.orgs["orga"], allowed_tables=CRM_TABLES, row_limit=10)
    b = prepare("SELECT 1 FROM accounts", org_id=data.orgs["orgb"], allowed_tables=CRM_TABLES, row_limit=10)
    c = replace(a, row_limit=11)
    assert a.sql != b.sql and a.tables == b.tables == ("accounts",) and c != a


def test_atlas_query_prints_json(data, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", data.full.admin_url)
    monkeypatch.setenv("ATLAS_AGENT_DATABASE_URL", data.full.agent_url)
    assert cli.main(["query", "--org", "orgb", "SELECT count(*) AS n FROM accounts"]) == 0
    body = json.loads(capsys.readouterr().out)
    truth = _superuser(data.full.admin_url, f"SELECT count(*) FROM accounts WHERE org_id = '{data.orgs['orgb']}'")
    assert body["rows"] == [[truth[0][0]]] and body["columns"] == [{"name": "n", "type": "int8"}]


def test_atlas_query_reports_a_refusal(data, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", data.full.admin_url)
    monkeypatch.setenv("ATLAS_AGENT_DATABASE_URL", data.full.agent_url)
    assert cli.main(["query", "--org", str(data.orgs["orga"]), "SELECT pg_sleep(1)"]) == 1
    assert "pg_sleep" in capsys.readouterr().err


def test_atlas_query_unknown_org(data, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", data.full.admin_url)
    assert cli.main(["query", "--org", "no-such-org", "SELECT 1"]) == 1
    assert "no-such-org" in capsys.readouterr().err
    assert uuid.UUID(str(data.orgs["orga"]))


def test_prepare_is_remembered_per_text_org_and_limits_but_refusals_are_not():
    """A repeated agent query skips parse/rewrite/cross-check; nothing leaks across orgs or limits."""
    import uuid as _uuid

    from app import gateway
    from app.errors.query import SqlRejectedError

    gateway.prepare_cached.cache_clear()
    org_a, org_b = _uuid.uuid4(), _uuid.uuid4()
    tables = frozenset({"contacts"})
    first = gateway.prepare_cached("SELECT id FROM contacts", org_a, tables, 10, 100_000)
    again = gateway.prepare_cached("SELECT id FROM contacts", org_a, tables, 10, 100_000)
    other_org = gateway.prepare_cached("SELECT id FROM contacts", org_b, tables, 10, 100_000)
    assert again is first and gateway.prepare_cached.cache_info().hits == 1
    assert str(org_b) in other_org.sql and str(org_a) not in other_org.sql
    assert gateway.prepare_cached("SELECT id FROM contacts", org_a, tables, 5, 100_000).row_limit == 5
    for _ in range(2):
        with pytest.raises(SqlRejectedError):
            gateway.prepare_cached("SELECT id FROM accounts", org_a, tables, 10, 100_000)
