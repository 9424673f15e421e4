"""OAuth 2.1 for the MCP HTTP transport (app/oauth/): the MCP SDK's own OAuth client against a served
`atlas serve` app (the authorization server) and a real `atlas mcp --http` (the protected resource),
then the attacks: each proves the victim org's rows unchanged or the credential refused."""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
import psycopg
import pytest
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from app.devdb.ports import free_port
from tests.support.api import ApiUser, TwoOrgs, invite_and_join, sign_up, two_org_world
from tests.support.api_module import org_snapshot
from tests.support.mcp_server import atlas_environment, mcp_http, seed_contacts
from tests.support.oauth_flow import REDIRECT_URI, Flow, approve, query_of, served

MARK_A, MARK_B = "alpha-oauth-marker", "bravo-oauth-marker"


@dataclass
class World:
    orgs: TwoOrgs
    base: str  # atlas serve: the authorization server
    mcp: str  # atlas mcp --http: the MCP endpoint, the token's resource
    contact_b: str

    def flow(self) -> Flow:
        return Flow(self.base, self.mcp)


@pytest.fixture(scope="module")
def world(db_factory, tmp_path_factory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("semantic")
    as_port, mcp_port = free_port(), free_port()
    base = f"http://127.0.0.1:{as_port}"
    with two_org_world(db_factory, semantic_root=str(root), public_url=base) as orgs:
        contacts = {org: seed_contacts(orgs.user(org, "owner"), description="People.", first_name=mark)
                    for org, mark in (("a", MARK_A), ("b", MARK_B))}
        env = atlas_environment(orgs, root, ATLAS_PUBLIC_URL=base)
        with mcp_http(env, mcp_port, tmp_path_factory.mktemp("mcp-oauth") / "http.log"), served(orgs.app, as_port):
            yield World(orgs, base, f"http://127.0.0.1:{mcp_port}/mcp", contacts["b"])


class MemoryStorage:
    """The SDK's TokenStorage, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


def sdk_provider(world: World, person: ApiUser, storage: MemoryStorage) -> OAuthClientProvider:
    """The SDK's OAuth client; its redirect handler consents on the real consent page as `person`."""
    landed: dict[str, str] = {}

    async def redirect_handler(url: str) -> None:
        landed.update(query_of(await anyio.to_thread.run_sync(approve, world.base, url, person.token)))

    async def callback_handler() -> AuthorizationCodeResult:
        return AuthorizationCodeResult(code=landed["code"], state=landed.get("state"))

    metadata = OAuthClientMetadata(client_name="SDK test agent", redirect_uris=[REDIRECT_URI],
                                   grant_types=["authorization_code", "refresh_token"], response_types=["code"],
                                   token_endpoint_auth_method="none")
    return OAuthClientProvider(server_url=world.mcp, client_metadata=metadata, storage=storage,
                               redirect_handler=redirect_handler, callback_handler=callback_handler)


async def _call(session: ClientSession, sql_text: str) -> tuple[bool, dict[str, Any]]:
    result = await session.call_tool("executeSQL", {"sql": sql_text})
    body = result.structured_content or json.loads(result.content[0].text)
    return bool(result.is_error), body


def mcp_sql(world: World, access_token: str, sql_text: str) -> tuple[int, dict[str, Any] | None]:
    """One executeSQL over MCP with a bearer token: (HTTP status of the first request, tool body or None)."""
    async def scenario() -> tuple[int, dict[str, Any] | None]:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {access_token}"}, timeout=30) as client:
            first = await client.post(world.mcp, json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                      headers={"Accept": "application/json, text/event-stream"})
            if first.status_code != 200:
                return first.status_code, None
            async with streamable_http_client(world.mcp, http_client=client) as streams, \
                    ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                error, body = await _call(session, sql_text)
                assert not error, body
                return 200, body
    return anyio.run(scenario)


def audit_actions(world: World, org: str) -> list[str]:
    with psycopg.connect(world.orgs.db.admin_url) as conn:
        return [row[0] for row in conn.execute("SELECT action FROM audit_log WHERE org_id = %s AND action LIKE 'oauth.%%'"
                                               " ORDER BY occurred_at", (world.orgs.org(org),))]


def test_the_mcp_sdk_oauth_client_completes_the_flow_and_sees_only_its_org(world):
    member = world.orgs.user("a", "member")
    storage = MemoryStorage()

    async def scenario() -> dict[str, Any]:
        async with httpx2.AsyncClient(auth=sdk_provider(world, member, storage), timeout=30) as client, \
                streamable_http_client(world.mcp, http_client=client) as streams, \
                ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            error, body = await _call(session, "SELECT first_name FROM contacts")
            assert not error, body
            return body

    before_b = org_snapshot(world.orgs.db.admin_url, world.orgs.org("b"))
    body = anyio.run(scenario)
    names = [row[0] for row in body["rows"]]
    assert MARK_A in names and MARK_B not in names
    assert storage.tokens is not None and storage.tokens.access_token.startswith("mcp_at_")
    assert storage.tokens.scope == "mcp" and storage.tokens.refresh_token
    assert {"oauth.consent", "oauth.token_issued"} <= set(audit_actions(world, "a"))
    with psycopg.connect(world.orgs.db.admin_url) as conn:
        actor = conn.execute("SELECT actor_user_id FROM audit_log WHERE org_id = %s AND action = 'query.run'"
                             " ORDER BY occurred_at DESC LIMIT 1", (world.orgs.org("a"),)).fetchone()
    assert actor == (member.user_id,)  # the call ran as the consenting person
    assert org_snapshot(world.orgs.db.admin_url, world.orgs.org("b")) == before_b


def test_discovery_starts_from_the_401_challenge(world):
    r = httpx2.post(world.mcp, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert r.status_code == 401
    challenge = r.headers["www-authenticate"]
    prm_url = challenge.split('resource_metadata="')[1].split('"')[0]
    prm = httpx2.get(prm_url).json()
    assert prm["resource"] == world.mcp and prm["authorization_servers"] == [world.base]
    asm = httpx2.get(f"{world.base}/.well-known/oauth-authorization-server").json()
    assert asm["issuer"] == world.base and asm["code_challenge_methods_supported"] == ["S256"]
    assert asm["registration_endpoint"] == f"{world.base}/oauth/register"


def test_a_token_for_org_a_never_reaches_org_b(world):
    before_b = org_snapshot(world.orgs.db.admin_url, world.orgs.org("b"))
    tokens = world.flow().tokens(world.orgs.user("a", "admin").token)
    status, body = mcp_sql(world, tokens["access_token"], f"SELECT * FROM contacts WHERE id = '{world.contact_b}'")
    assert status == 200 and body is not None and body["rowCount"] == 0
    # The same secret relabelled with org B's id names no token there.
    secret = tokens["access_token"].rsplit("_", 1)[1]
    forged = f"mcp_at_{world.orgs.org('b').hex}_{secret}"
    assert mcp_sql(world, forged, "SELECT 1")[0] == 401
    # An MCP token is no credential for the REST API.
    r = httpx2.get(f"{world.base}/api/v1/contacts", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert r.status_code == 401
    assert org_snapshot(world.orgs.db.admin_url, world.orgs.org("b")) == before_b


def test_a_replayed_code_is_refused_and_revokes_what_it_issued(world):
    flow = world.flow()
    code = flow.code(world.orgs.user("a", "member").token)
    first = flow.exchange(code)
    assert first.status_code == 200
    again = flow.exchange(code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert mcp_sql(world, first.json()["access_token"], "SELECT 1")[0] == 401


def test_a_wrong_pkce_verifier_is_refused_and_spends_the_code(world):
    flow = world.flow()
    code = flow.code(world.orgs.user("a", "member").token)
    wrong = flow.exchange(code, code_verifier="x" * 64)
    assert wrong.status_code == 400 and "code_verifier" in wrong.json()["error_description"]
    assert flow.exchange(code).status_code == 400  # the right verifier comes too late


def test_an_expired_code_is_refused(world):
    flow = world.flow()
    code = flow.code(world.orgs.user("a", "member").token)
    with psycopg.connect(world.orgs.db.admin_url) as conn:
        conn.execute("UPDATE oauth_codes SET expires_at = now() - interval '1 second' WHERE used_at IS NULL")
    r = flow.exchange(code)
    assert r.status_code == 400 and "expired" in r.json()["error_description"]


def test_a_code_is_bound_to_its_client_and_redirect_uri(world):
    flow, other = world.flow(), world.flow()
    code = flow.code(world.orgs.user("a", "member").token)
    other.register()
    r = httpx2.post(f"{world.base}/oauth/token", data={
        "grant_type": "authorization_code", "code": code, "client_id": other.client_id,
        "redirect_uri": REDIRECT_URI, "code_verifier": flow.verifier})
    assert r.status_code == 400 and "another client" in r.json()["error_description"]


def test_an_unregistered_redirect_uri_is_shown_never_redirected_to(world):
    flow = world.flow()
    assert flow.register().status_code == 201
    page = httpx2.get(flow.authorize_url(redirect_uri="https://evil.example/steal"),
                      cookies={"better-auth.session_token": world.orgs.user("a", "member").token})
    assert page.status_code == 400 and "location" not in page.headers
    for bad in ("https://evil.example/cb#x", "http://evil.example/cb", "javascript:alert(1)"):
        r = flow.register([bad])
        assert r.status_code == 400 and r.json()["error"] == "invalid_redirect_uri", bad
    # A client id edited to carry another redirect URI is not one this server issued.
    payload, signature = flow.client_id.split(".")
    forged = Flow(world.base, world.mcp, client_id=f"{payload[:-2]}AA.{signature}")
    page = httpx2.get(forged.authorize_url())
    assert page.status_code == 400 and "location" not in page.headers


def test_a_consent_post_without_the_sessions_form_token_is_refused(world):
    flow = world.flow()
    flow.register()
    url = flow.authorize_url()
    victim, attacker = world.orgs.user("a", "member"), world.orgs.user("b", "member")
    cookies = {"better-auth.session_token": victim.token}
    with httpx2.Client(cookies={"better-auth.session_token": attacker.token}) as client:
        page = client.get(url)  # the attacker's own form, its token bound to the attacker's session
    from tests.support.oauth_flow import consent_form
    form = {**consent_form(page.text), "decision": "approve"}
    r = httpx2.post(f"{world.base}/oauth/authorize", data=form, cookies=cookies, headers={"Origin": world.base})
    assert r.status_code == 403 and "location" not in r.headers
    r = httpx2.post(f"{world.base}/oauth/authorize", data=form, cookies=cookies,
                    headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and "location" not in r.headers


def test_revocation_binds_at_once(world):
    member = world.orgs.user("a", "member")
    by_client = world.flow().tokens(member.token)
    assert mcp_sql(world, by_client["access_token"], "SELECT 1")[0] == 200
    assert httpx2.post(f"{world.base}/oauth/revoke", data={"token": by_client["refresh_token"]}).status_code == 200
    assert mcp_sql(world, by_client["access_token"], "SELECT 1")[0] == 401

    by_person = world.flow().tokens(member.token)
    grants = member.get("/api/v1/oauth/grants").get_json()["data"]
    mine = [g for g in grants if g["clientName"] == "Attack test client"]
    assert mine
    for grant in mine:
        assert member.delete(f"/api/v1/oauth/grants/{grant['id']}").status_code == 200
    assert mcp_sql(world, by_person["access_token"], "SELECT 1")[0] == 401
    assert "oauth.token_revoked" in audit_actions(world, "a")


def test_a_removed_member_s_token_stops_at_once(world):
    owner = world.orgs.user("a", "owner")
    leaver = sign_up(world.orgs.app, f"leaver-{uuid.uuid4().hex[:8]}@acme.test")
    invite_and_join(owner, leaver, "member")
    flow = world.flow()
    tokens = flow.tokens(leaver.token)
    assert mcp_sql(world, tokens["access_token"], "SELECT 1")[0] == 200
    r = owner.post("/api/auth/organization/remove-member", json={"memberIdOrEmail": leaver.email})
    assert r.status_code == 200, r.get_json()
    assert mcp_sql(world, tokens["access_token"], "SELECT 1")[0] == 401
    refreshed = httpx2.post(f"{world.base}/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": flow.client_id})
    assert refreshed.status_code == 400 and "no longer a member" in refreshed.json()["error_description"]


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family(world):
    flow = world.flow()
    tokens = flow.tokens(world.orgs.user("a", "member").token)

    def refresh(token: str) -> httpx2.Response:
        return httpx2.post(f"{world.base}/oauth/token", data={
            "grant_type": "refresh_token", "refresh_token": token, "client_id": flow.client_id,
            "resource": world.mcp})

    second = refresh(tokens["refresh_token"])
    assert second.status_code == 200 and second.json()["refresh_token"] != tokens["refresh_token"]
    assert mcp_sql(world, tokens["access_token"], "SELECT 1")[0] == 401  # the old pair is spent
    assert mcp_sql(world, second.json()["access_token"], "SELECT 1")[0] == 200
    stolen = refresh(tokens["refresh_token"])
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    assert mcp_sql(world, second.json()["access_token"], "SELECT 1")[0] == 401


def test_a_token_for_another_resource_is_refused_by_this_mcp_server(world):
    elsewhere = Flow(world.base, "http://127.0.0.1:9/mcp")
    tokens = elsewhere.tokens(world.orgs.user("a", "member").token)
    assert mcp_sql(world, tokens["access_token"], "SELECT 1")[0] == 401


def test_denied_consent_issues_nothing_and_an_anonymous_visitor_is_asked_to_sign_in(world):
    flow = world.flow()
    flow.register()
    location = approve(world.base, flow.authorize_url(), world.orgs.user("a", "member").token, decision="deny")
    assert query_of(location) == {"error": "access_denied", "error_description": "the user denied the request",
                                  "state": "st4te"}
    assert "oauth.consent_denied" in audit_actions(world, "a")
    page = httpx2.get(flow.authorize_url())
    assert page.status_code == 401 and 'href="/sign-in"' in page.text and "location" not in page.headers
