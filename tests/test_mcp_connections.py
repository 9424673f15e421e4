"""executeSQL over MCP on an org's own connection: the same `connectionId` as over HTTP, looked up in the token's org.

Connection ids are names within an org, so naming another org's connection
finds nothing in the caller's org: a 404 tool error, recorded as a refused
query, and the other org's datasource is never touched.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import psycopg
import pytest
from cryptography.fernet import Fernet
from mcp import ClientSession, StdioServerParameters, stdio_client

from tests.support.api import TwoOrgs, two_org_world
from tests.support.datasource import Datasource, external_datasource
from tests.support.errors import error_code

ROOT = Path(__file__).resolve().parents[1]
ENTITY = """table: sales
connection: globex-warehouse
description: Sales in Globex's own warehouse
dimensions:
  - {name: region, sql: region, type: string}
"""
SQL = "SELECT region, count(*) AS n FROM sales GROUP BY region ORDER BY region"


@pytest.fixture(scope="module")
def ds(db_factory) -> Iterator[Datasource]:
    with external_datasource(db_factory) as datasource:
        yield datasource


@pytest.fixture(scope="module")
def world(db_factory, tmp_path_factory, ds) -> Iterator[tuple[TwoOrgs, dict[str, str], dict[str, str]]]:
    key = Fernet.generate_key().decode()
    root = tmp_path_factory.mktemp("semantic")
    with two_org_world(db_factory, semantic_root=str(root), connection_keys=key,
                       connection_allowed_hosts=ds.allowed(database=True)) as orgs:
        owner_b = orgs.user("b", "owner")
        assert owner_b.post("/api/v1/admin/connections", json={"id": "globex-warehouse", "url": ds.url()}).status_code == 201
        r = owner_b.put("/api/v1/admin/semantic/org/entities/sales_ext", json={"yamlContent": ENTITY})
        assert r.status_code in (200, 201), r.get_json()
        tokens = {}
        for org in ("a", "b"):
            r = orgs.user(org, "admin").post("/api/v1/admin/api-keys", json={"name": "agent", "role": "member"})
            assert r.status_code == 201, r.get_json()
            tokens[org] = r.get_json()["key"]
        env = {"DATABASE_URL": orgs.db.admin_url, "ATLAS_ROLE_PREFIX": orgs.db.roles.owner.removesuffix("_owner"),
               "ATLAS_SEMANTIC_ROOT": str(root), "PYTHONPATH": str(ROOT), "ATLAS_CONNECTION_KEYS": key,
               "ATLAS_CONNECTION_ALLOWED_HOSTS": ds.allowed(database=True),
               "PATH": "/usr/bin:/bin"}
        yield orgs, env, tokens


def execute_sql(env: dict[str, str], token: str, arguments: dict) -> tuple[bool, dict]:
    async def scenario() -> tuple[bool, dict]:
        params = StdioServerParameters(command=sys.executable, args=["-m", "app.cli", "mcp"], cwd=str(ROOT),
                                       env={**env, "ATLAS_TOKEN": token})
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool("executeSQL", arguments)
            return bool(result.is_error), result.structured_content or json.loads(result.content[0].text)
    return anyio.run(scenario)


def refused_queries(orgs: TwoOrgs, org: str) -> list[dict]:
    with psycopg.connect(orgs.db.admin_url) as conn:
        return [row[0] for row in conn.execute(
            "SELECT detail FROM audit_log WHERE org_id = %s AND action = 'query.refused' ORDER BY occurred_at",
            (orgs.org(org),))]


def test_execute_sql_reads_the_tokens_own_connection(world):
    orgs, env, tokens = world
    error, body = execute_sql(env, tokens["b"], {"sql": SQL, "connectionId": "globex-warehouse"})
    assert not error, body
    assert body["rows"] == [["east", 100], ["north", 100], ["south", 100]]


def test_naming_another_orgs_connection_finds_nothing_and_is_audited(world, ds):
    orgs, env, tokens = world
    before = len(refused_queries(orgs, "a"))
    error, body = execute_sql(env, tokens["a"], {"sql": SQL, "connectionId": "globex-warehouse"})
    assert error and error_code(body) == "not_found", body
    assert "east" not in json.dumps(body)
    refused = refused_queries(orgs, "a")[before:]
    assert [r["connectionId"] for r in refused] == ["globex-warehouse"]
    with psycopg.connect(ds.admin_url) as conn:  # the victim's datasource is as it was
        assert conn.execute("SELECT count(*) FROM sales").fetchone()[0] == 300
