"""The MCP server through the SDK's own client (`ClientSession`): over stdio (`atlas mcp` as a subprocess)
and over streamable HTTP (`atlas mcp --http` on a free port), each a real process on the test database.

Org A's token never sees org B's rows, entities or files; arguments naming B are refused and audited; a
revoked key or a removed member stops the next call; refusals are tool errors with the HTTP API's codes.
"""
from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import psycopg
import pytest
from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from app.devdb.ports import free_port
from tests.support.api import TwoOrgs, two_org_world
from tests.support.api_module import org_snapshot
from tests.support.errors import error_code
from tests.support.mcp_server import ATLAS, ROOT, atlas_environment, mcp_http, seed_contacts

TOOLS = {"explore", "executeSQL", "listEntities", "describeEntity"}
MARK_A, MARK_B = "alpha-only-marker", "bravo-only-marker"


@dataclass
class World:
    orgs: TwoOrgs
    env: dict[str, str]
    keys: dict[str, dict[str, Any]]  # org -> created key (with its secret in "key")
    contact_b: str
    http_port: int

    def key(self, org: str) -> str:
        return self.keys[org]["key"]


@pytest.fixture(scope="module")
def world(db_factory, tmp_path_factory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("semantic")
    with two_org_world(db_factory, semantic_root=str(root)) as orgs:
        keys = {}
        for org, mark in (("a", MARK_A), ("b", MARK_B)):
            contact = seed_contacts(orgs.user(org, "owner"), description=f"People ({mark}).", first_name=mark)
            r = orgs.user(org, "admin").post("/api/v1/admin/api-keys", json={"name": "agent", "role": "member"})
            assert r.status_code == 201, r.get_json()
            keys[org] = r.get_json()
        env = atlas_environment(orgs, root)
        port = free_port()
        with mcp_http(env, port, tmp_path_factory.mktemp("mcp") / "http.log"):
            yield World(orgs, env, keys, contact, port)


@asynccontextmanager
async def stdio_session(world: World, token: str):
    params = StdioServerParameters(command=ATLAS[0], args=[*ATLAS[1:], "mcp"], cwd=str(ROOT),
                                   env={**world.env, "ATLAS_TOKEN": token})
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@asynccontextmanager
async def http_session(world: World, token: str):
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client, \
            streamable_http_client(f"http://127.0.0.1:{world.http_port}/mcp", http_client=client) as streams, \
            ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        yield session


SESSIONS = {"stdio": stdio_session, "http": http_session}


def run(coroutine_fn, *args) -> Any:
    return anyio.run(coroutine_fn, *args)


async def call(session: ClientSession, tool: str, arguments: dict | None = None) -> tuple[bool, dict]:
    result = await session.call_tool(tool, arguments or {})
    body = result.structured_content or json.loads(result.content[0].text)
    return bool(result.is_error), body


def audit_of(world: World, org: str, action: str) -> list[dict]:
    with psycopg.connect(world.orgs.db.admin_url) as conn:
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        return cur.execute("SELECT * FROM audit_log WHERE org_id = %s AND action = %s ORDER BY occurred_at",
                           (world.orgs.org(org), action)).fetchall()


@pytest.mark.parametrize("transport", sorted(SESSIONS))
def test_every_tool_answers_for_the_tokens_org_only(world, transport):
    async def scenario() -> None:
        async with SESSIONS[transport](world, world.key("a")) as session:
            assert {t.name for t in (await session.list_tools()).tools} >= TOOLS
            error, listed = await call(session, "listEntities")
            assert not error and [e["name"] for e in listed["entities"]] == ["contacts"]
            error, described = await call(session, "describeEntity", {"name": "contacts"})
            assert not error and MARK_A in described["yamlContent"] and MARK_B not in described["yamlContent"]
            error, found = await call(session, "explore", {"command": "grep", "path": "", "pattern": "marker"})
            assert not error and MARK_A in found["output"] and MARK_B not in found["output"]
            error, ls = await call(session, "explore", {"command": "ls"})
            assert not error and "entities/" in ls["output"]
            error, rows = await call(session, "executeSQL", {"sql": "SELECT first_name FROM contacts"})
            assert not error, rows
            names = [r[0] for r in rows["rows"]]
            assert MARK_A in names and MARK_B not in names
            error, rows = await call(session, "executeSQL", {"sql": f"SELECT * FROM contacts WHERE id = '{world.contact_b}'"})
            assert not error and rows["rowCount"] == 0
            resource = await session.read_resource("atlas://entities/contacts")
            assert MARK_A in resource.contents[0].text and MARK_B not in resource.contents[0].text
            with pytest.raises(MCPError, match="not_found"):
                await session.read_resource("atlas://entities/accounts")
    run(scenario)
    ran = audit_of(world, "a", "query.run")
    assert ran and ran[-1]["api_key_id"] == uuid.UUID(world.keys["a"]["id"])
    assert ran[-1]["actor_user_id"] == world.orgs.user("a", "admin").user_id


@pytest.mark.parametrize("transport", sorted(SESSIONS))
def test_tool_errors_carry_the_http_apis_codes_and_messages(world, transport):
    http = world.orgs.user("a", "member").post("/api/v1/query", json={"sql": "DELETE FROM contacts"}).get_json()

    async def scenario() -> None:
        async with SESSIONS[transport](world, world.key("a")) as session:
            error, body = await call(session, "executeSQL", {"sql": "DELETE FROM contacts"})
            assert error and body == http
            error, body = await call(session, "describeEntity", {"name": "accounts"})
            assert error and error_code(body) == "not_found"
            error, body = await call(session, "explore", {"command": "cat", "path": "../../etc/passwd"})
            assert error and error_code(body) == "validation_error" and "Traceback" not in json.dumps(body)
    run(scenario)


@pytest.mark.parametrize("transport", sorted(SESSIONS))
def test_sql_naming_another_orgs_id_is_refused_and_audited_as_refused(world, transport):
    """The org is the gateway's to set (app/gateway/tenancy.py): the same refusal as POST /api/v1/query."""
    sql_text = f"SELECT first_name FROM contacts WHERE org_id = '{world.orgs.org_b}'"
    http = world.orgs.user("a", "member").post("/api/v1/query", json={"sql": sql_text}).get_json()
    assert error_code(http) == "sql_rejected" and "applied automatically" in json.dumps(http)
    refused_before = len(audit_of(world, "a", "query.refused"))

    async def scenario() -> None:
        async with SESSIONS[transport](world, world.key("a")) as session:
            error, body = await call(session, "executeSQL", {"sql": sql_text})
            assert error and body == http
            assert MARK_B not in json.dumps(body)
    run(scenario)
    refused = audit_of(world, "a", "query.refused")[refused_before:]
    assert [r["detail"]["sql"] for r in refused] == [sql_text]
    assert not [r for r in audit_of(world, "a", "query.run") if r["detail"].get("sql") == sql_text]


FOREIGN = (("orgId", "b"), ("organizationId", "b"), ("tenantId", "b"), ("datasourceId", "globex-warehouse"))
# executeSQL takes connectionId itself (looked up in the token's org): tests/test_mcp_connections.py


@pytest.mark.parametrize("transport", sorted(SESSIONS))
def test_arguments_naming_another_org_are_refused_and_audited(world, transport):
    """Each org, tenant or connection argument, on a query tool and a layer tool: refused, audited, B untouched."""
    before_b = org_snapshot(world.orgs.db.admin_url, world.orgs.org_b)
    refused_before = len(audit_of(world, "a", "cross_org.refused"))
    cases = [(argument, str(world.orgs.org_b) if value == "b" else value, tool, arguments)
             for argument, value in FOREIGN
             for tool, arguments in (("executeSQL", {"sql": "SELECT first_name FROM contacts"}), ("listEntities", {}))]

    async def scenario() -> None:
        async with SESSIONS[transport](world, world.key("a")) as session:
            for argument, named, tool, arguments in cases:
                error, body = await call(session, tool, {**arguments, argument: named})
                assert error and error_code(body) == "cross_org_refused", (argument, tool, body)
                assert MARK_B not in json.dumps(body)
            error, body = await call(session, "listEntities", {"orgId": str(world.orgs.org_a)})  # its own: fine
            assert not error, body
    run(scenario)
    refused = audit_of(world, "a", "cross_org.refused")[refused_before:]
    assert [r["detail"]["field"] for r in refused] == [argument for argument, _, _, _ in cases]
    assert {r["api_key_id"] for r in refused} == {uuid.UUID(world.keys["a"]["id"])}
    assert org_snapshot(world.orgs.db.admin_url, world.orgs.org_b) == before_b


@pytest.mark.parametrize("transport", sorted(SESSIONS))
def test_a_revoked_key_stops_the_next_call(world, transport):
    """stdio: the next call is a tool error `unauthorized`; HTTP: the next request is refused with 401."""
    created = world.orgs.user("a", "owner").post("/api/v1/admin/api-keys", json={"name": "t", "role": "member"})
    key = created.get_json()

    async def scenario() -> None:
        async with SESSIONS[transport](world, key["key"]) as session:
            error, _ = await call(session, "listEntities")
            assert not error
            r = world.orgs.user("a", "owner").delete(f"/api/v1/admin/api-keys/{key['id']}")
            assert r.status_code == 200
            if transport == "stdio":
                error, body = await call(session, "listEntities")
                assert error and error_code(body) == "unauthorized", body
            else:
                with pytest.raises(MCPError):
                    await call(session, "listEntities")
    run(scenario)
    if transport == "http":
        status, body = _raw_http(world, key["key"])
        assert status == 401 and error_code(body) == "unauthorized"


def _raw_http(world: World, token: str | None) -> tuple[int, dict]:
    """One JSON-RPC POST to /mcp with `token` (or none); -> (status, JSON body); a 401 must ask for a bearer
    and say where the OAuth metadata is (docs/mcp-oauth.md)."""
    headers = {"Accept": "application/json, text/event-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    r = httpx2.post(f"http://127.0.0.1:{world.http_port}/mcp", headers=headers,
                    json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=10)
    if r.status_code == 401:
        assert r.headers["www-authenticate"] == (f'Bearer resource_metadata="http://127.0.0.1:{world.http_port}'
                                                 '/.well-known/oauth-protected-resource/mcp", scope="mcp"')
    return r.status_code, r.json()


def test_a_removed_member_stops_the_next_call_of_their_session_token(world, db_factory):
    """A session token works too; removing its member stops it (stdio: the token is fixed at start)."""
    member = world.orgs.user("a", "member")

    async def scenario() -> None:
        async with stdio_session(world, member.token) as session:
            error, _ = await call(session, "listEntities")
            assert not error
            r = world.orgs.user("a", "owner").post("/api/auth/organization/remove-member",
                                                    json={"memberIdOrEmail": member.email})
            assert r.status_code == 200, r.get_json()
            error, body = await call(session, "executeSQL", {"sql": "SELECT 1 FROM contacts"})
            assert error and error_code(body) == "no_active_organization", body
    run(scenario)


def test_http_refuses_every_request_without_a_live_token(world):
    for token in (None, "nope", world.key("a") + "x", world.key("a").replace(world.orgs.org_a.hex, world.orgs.org_b.hex)):
        status, body = _raw_http(world, token)
        assert status == 401 and error_code(body) == "unauthorized", (token, body)


def test_stdio_refuses_to_start_without_a_valid_token(world):
    done = subprocess.run([*ATLAS, "mcp"], env={**world.env, "ATLAS_TOKEN": "atlas_bogus"}, cwd=ROOT,
                          capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 1 and b"no valid token" in done.stderr and b"Traceback" not in done.stderr


# ----- item 8: the stdio token never on the command line --------------------------------------------------------
def _command_lines_holding(secret: str) -> list[str]:
    """Every process's command line (what any local user can read) that contains `secret`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            text = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if entry.name.isdigit() and secret in text:
            found.append(text)
    return found


def test_a_token_on_the_command_line_is_refused_naming_the_alternatives(world):
    bogus = "atlas_" + "0" * 32 + "_never-a-real-secret"
    done = subprocess.run([*ATLAS, "mcp", "--token", bogus], env=world.env, cwd=ROOT, capture_output=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and b"Traceback" not in done.stderr, done.stderr
    for alternative in (b"--token-file", b"ATLAS_TOKEN_FILE", b"ATLAS_TOKEN", b"process list"):
        assert alternative in done.stderr, done.stderr


def test_stdio_reads_the_key_from_a_file_and_no_process_list_shows_it(world, tmp_path):
    secret = world.key("a")
    token_file = tmp_path / "token"
    token_file.write_text(secret + "\n")
    token_file.chmod(0o600)
    params = StdioServerParameters(command=ATLAS[0], args=[*ATLAS[1:], "mcp", "--token-file", str(token_file)],
                                   cwd=str(ROOT), env=world.env)  # no ATLAS_TOKEN: the file alone

    async def scenario() -> None:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            error, listed = await call(session, "listEntities")
            assert not error and [e["name"] for e in listed["entities"]] == ["contacts"]
            assert _command_lines_holding(secret) == []  # the server is running and acting with the key
            assert any(str(token_file) in line for line in _command_lines_holding("--token-file"))

    anyio.run(scenario)


@pytest.mark.parametrize("content,path_name,message", [
    ("", "empty", b"exactly one token"), ("two tokens", "spaced", b"exactly one token"),
    (None, "missing", b"cannot read the token file"), (None, "-", b"stdin carries the MCP protocol")])
def test_a_bad_token_file_stops_stdio_at_start_with_a_message(world, tmp_path, content, path_name, message):
    path = path_name if path_name == "-" else str(tmp_path / path_name)
    if content is not None:
        Path(path).write_text(content)
    done = subprocess.run([*ATLAS, "mcp", "--token-file", path], env=world.env, cwd=ROOT, capture_output=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 1 and message in done.stderr and b"Traceback" not in done.stderr, done.stderr


def test_atlas_token_file_in_the_environment_is_read_like_the_flag(world, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("atlas_bogus\n")
    done = subprocess.run([*ATLAS, "mcp"], env={**world.env, "ATLAS_TOKEN_FILE": str(token_file)}, cwd=ROOT,
                          capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 1 and b"no valid token" in done.stderr, done.stderr  # the file's token was tried
