"""The OAuth consent page and the MCP clients page in a real browser (headless Chromium): a member
approves a client (the form post and its redirect to the client pass the page's CSP), then revokes
the grant from the console and the client's refresh token is refused."""
from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest

from app.devdb.databases import DatabaseFactory
from tests.support.browser import Page, chromium, console_server
from tests.support.console_world import PASSWORD, World, build_world
from tests.support.oauth_flow import REDIRECT_URI, Flow, query_of


@pytest.fixture(scope="module")
def site(db_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Page, World]]:
    db = db_factory.clone()
    try:
        with console_server(db) as served, chromium() as driver:
            yield Page(driver, served.port, tmp_path_factory.mktemp("shots")), build_world(served.port, contacts=1)
    finally:
        db_factory.drop(db.name)


def test_a_member_approves_a_client_then_revokes_it_from_the_console(site):
    page, world = site
    flow = Flow(page.base, "http://127.0.0.1:9/mcp")
    assert flow.register().status_code == 201
    page.sign_in("member@acme.test", PASSWORD)
    page.driver.get(flow.authorize_url())
    assert page.find("#oauth-client").text == "Attack test client"
    assert "Acme" in page.find("#oauth-org").text and page.find("#oauth-scope").text.startswith("mcp")
    page.shot("oauth-consent")
    page.find("button[value=approve]").click()
    page.wait(lambda d: d.current_url.startswith(REDIRECT_URI))  # the browser followed the redirect to the client
    landed = query_of(page.driver.current_url)
    assert landed["state"] == "st4te"
    tokens = flow.exchange(landed["code"]).json()
    assert tokens["access_token"].startswith("mcp_at_")

    page.open("/mcp-clients")
    page.wait(lambda d: page.find_all("#grants tbody tr[data-grant-id]"))
    assert "Attack test client" in page.find("#grants").text
    page.find("#grants .revoke").click()
    page.driver.switch_to.alert.accept()
    page.wait(lambda d: not page.find_all("#grants tbody tr[data-grant-id]"))
    refreshed = httpx2.post(f"{page.base}/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": flow.client_id})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
