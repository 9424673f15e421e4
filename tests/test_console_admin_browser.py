"""The console's Ask and admin pages in a real browser: YAML errors at their line, a query's table and
chart, the gateway's refusal, the empty-layer fix, live pool numbers, audit, settings, cache, platform.

One live server and one browser for the module (tests/support/browser.py).
"""
from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from app.devdb.databases import DatabaseFactory
from tests.support.browser import Page, chromium, console_server
from tests.support.console_world import PASSWORD, World, build_world

BROKEN = """table: contacts
description: People
dimensions:
  - name: id
    sql: id
    type: nonsense
"""
# A pool per org, so the Connections page has per-org active and idle connections to show.
POOLS = {"pool": {"mode": "dedicated", "timeoutMs": 5000, "base": {"minConnections": 1, "maxConnections": 4},
                  "perOrg": {"maxConnections": 2, "maxOrgs": 10, "warmupProbes": 1}},
         "maxTotalConnections": 40}


@pytest.fixture(scope="module")
def site(db_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Page, World]]:
    db = db_factory.clone()
    try:
        with console_server(db, pools=POOLS) as served, chromium() as driver:
            world = build_world(served.port, contacts=9)
            with psycopg.connect(db.admin_url, autocommit=True) as conn:  # an operator's decision, never an API call
                conn.execute("UPDATE users SET platform_role = 'admin' WHERE email = 'owner@globex.test'")
            yield Page(driver, served.port, tmp_path_factory.mktemp("shots")), world
    finally:
        db_factory.drop(db.name)


def test_an_entity_with_a_yaml_error_shows_the_error_at_its_line(site):
    page, world = site
    page.sign_in("admin@acme.test", PASSWORD)
    page.open("/admin/semantic")
    assert "contacts" in page.find("#entities").text
    page.find("#new-entity").click()
    page.find("#entity-name").send_keys("people")
    area = page.find("#yaml")
    area.clear()
    page.driver.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))",
                               area, BROKEN)
    page.find("#entity-form button[type=submit]").click()
    page.wait(lambda d: page.find_all("#yaml-errors li"))
    error = page.find("#yaml-errors li")
    assert error.get_attribute("data-line") == "6"
    assert error.text.startswith("Line 6: dimensions[0].type")
    assert page.find("#gutter span[data-line='6']").get_attribute("class") == "line error-line"
    assert page.find_all("#gutter .error-line") == [page.find("#gutter span[data-line='6']")]
    page.shot("semantic-yaml-error")
    names = [e["name"] for e in world.call("GET", "/api/v1/admin/semantic/org/entities", as_="owner@acme.test")["data"]]
    assert names == ["contacts"]  # nothing was stored


def test_an_agent_query_shows_a_table_and_a_chart_and_joins_the_history(site):
    page, _ = site
    page.sign_in("member@acme.test", PASSWORD)
    page.open("/ask")
    assert page.find_all("#no-entities") == []
    page.navigating(lambda: page.find("#ask-form button[type=submit]").click())
    header = page.texts("#result-table thead th")
    assert header == ["lifecycle_stage", "contacts"]
    rows = page.find_all("#result-table tbody tr")
    assert len(rows) == 3
    assert sorted(r.find_elements("css selector", "td")[1].text for r in rows) == ["3", "3", "3"]
    assert page.visible("#chart svg.chart")
    assert len(page.find_all("#chart svg rect.bar")) == 3
    labels = page.texts("#chart svg text.chart-label")
    assert sorted(labels) == ["customer", "lead", "subscriber"]
    page.wait(lambda d: "SELECT lifecycle_stage" in page.find("#conversations").text)
    page.shot("ask")


def test_the_gateway_refusal_is_shown(site):
    page, _ = site
    page.sign_in("member@acme.test", PASSWORD)
    page.open("/ask")
    page.find("#sql").clear()
    page.find("#sql").send_keys("DELETE FROM contacts")
    page.navigating(lambda: page.find("#ask-form button[type=submit]").click())
    message = page.find("#refusal-message").text
    assert message.startswith("Refused:") and "(sql_rejected)" in message
    assert not page.visible("#result")


def test_an_org_without_entities_says_so_and_names_the_fix_in_the_page_and_the_refusal(site):
    page, world = site
    page.sign_in("owner@globex.test", PASSWORD)
    page.open("/ask")
    notice = page.find("#no-entities").text
    assert "no semantic entities" in notice and f"atlas init --org {world.orgs['globex']}" in notice
    page.navigating(lambda: page.find("#ask-form button[type=submit]").click())
    refusal = page.find("#refusal-message").text
    assert "semantic layer has no entities" in refusal and "atlas init --org" in refusal


def test_the_connections_page_shows_live_numbers(site):
    page, world = site
    page.sign_in("admin@acme.test", PASSWORD)
    page.open("/admin/connections")
    acme = world.orgs["acme"]

    def queries_shown() -> int:
        cells = page.driver.execute_script(
            "return Array.from(document.querySelectorAll('#org-pools tbody tr'))"
            ".filter(r => r.querySelector('[data-column=org_id]')?.textContent === arguments[0])"
            ".map(r => Number(r.querySelector('[data-column=queries]').textContent));", acme)
        return sum(cells)

    page.wait(lambda d: int(d.execute_script("return document.body.dataset.refreshes || '0'")) >= 1)
    before = queries_shown()
    for _ in range(5):
        world.call("GET", "/api/v1/contacts?limit=1", as_="owner@acme.test")
    refreshes = int(page.driver.execute_script("return document.body.dataset.refreshes"))
    page.wait(lambda d: int(d.execute_script("return document.body.dataset.refreshes")) >= refreshes + 2)
    assert queries_shown() >= before + 5
    assert page.find("#updated").text.startswith("Updated ")
    assert page.find_all("#org-pools tbody tr [data-column=org_id]")  # Acme's own pool rows, never another org's
    assert {c.text for c in page.find_all("#org-pools tbody [data-column=org_id]")} == {acme}
    page.shot("connections")


def test_audit_settings_and_cache_pages_work_for_an_admin(site):
    page, _ = site
    page.sign_in("admin@acme.test", PASSWORD)
    page.open("/admin/audit?action=contact.create")
    actions = {row.find_elements("css selector", "td")[1].text for row in page.find_all("#audit tbody tr")}
    assert actions == {"contact.create"}
    page.shot("audit")
    page.open("/admin/settings")
    page.find("#queryRowLimit").clear()
    page.find("#queryRowLimit").send_keys("0")
    page.find("#settings button[type=submit]").click()
    page.wait(lambda d: page.visible("#err-queryRowLimit"))
    page.find("#queryRowLimit").clear()
    page.find("#queryRowLimit").send_keys("500")
    page.find("#settings button[type=submit]").click()
    page.wait(lambda d: "Settings saved." in page.find("#notice").text)
    page.open("/admin/settings")
    assert page.find("#queryRowLimit").get_attribute("value") == "500"
    page.shot("settings")
    page.open("/admin/cache")
    assert [o.get_attribute("value") for o in page.find_all("#scope option")] == ["organization"]
    page.find("#flush button[type=submit]").click()
    page.wait(lambda d: "Flushed" in page.find("#notice").text)


def test_a_platform_admin_sees_every_org_with_member_counts_and_one_orgs_details(site):
    page, _ = site
    page.sign_in("owner@globex.test", PASSWORD)
    assert page.visible(".sidebar a[href='/platform/organizations']")
    page.open("/platform/organizations")
    counts = {row.find_elements("css selector", "td")[0].text: row.find_elements("css selector", "td")[2].text
              for row in page.find_all("#orgs tbody tr")}
    assert counts == {"Acme": "5", "Globex": "2"}
    page.shot("platform-organizations")
    page.navigating(lambda: page.find("#orgs a").click())
    assert page.find("#org-title").text == "Acme (acme)"
    assert "admin@acme.test" in page.find("#org-members").text
    assert "members\n5" in page.find("#org-stats").text
