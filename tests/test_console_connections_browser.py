"""The console's Connections page in a real browser: an admin lists, adds, tests, edits and deletes the
org's own datasources, and reads the host check's refusal and the test's result beside the form.

One live server (with a connection key and an allowlist naming the test datasource's server), one
external datasource and one browser for the module (tests/support/browser.py).
"""
from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from cryptography.fernet import Fernet

from app.devdb.databases import DatabaseFactory
from tests.support.browser import Page, chromium, console_server
from tests.support.console_world import PASSWORD, World, build_world
from tests.support.datasource import Datasource, external_datasource

BASE = "/api/v1/admin/connections"


@pytest.fixture(scope="module")
def site(db_factory: DatabaseFactory,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Page, World, Datasource]]:
    db = db_factory.clone()
    try:
        with external_datasource(db_factory) as ds, \
                console_server(db, connection_keys=Fernet.generate_key().decode(),
                               connection_allowed_hosts=ds.allowed()) as served, chromium() as driver:
            world = build_world(served.port, contacts=3)
            yield Page(driver, served.port, tmp_path_factory.mktemp("shots")), world, ds
    finally:
        db_factory.drop(db.name)


def stored(world: World, org: str = "owner@acme.test") -> list[str]:
    return [c["id"] for c in world.call("GET", BASE, as_=org)["connections"]]


def fill(page: Page, **values: str) -> None:
    for name, value in values.items():
        field = page.find(f"#conn-{name}")
        field.clear()
        field.send_keys(value)


def submitted(page: Page) -> None:
    """Save, then wait until the result panel shows what the server said (a refusal or a test)."""
    page.driver.execute_script("document.getElementById('outcome').replaceChildren()")
    page.find("#save-connection").click()
    page.wait(lambda d: page.find_all("#outcome-refused") or page.find_all("#outcome-test"))


def test_an_admin_adds_tests_edits_and_deletes_a_datasource_and_sees_why_a_host_is_refused(site):
    page, world, ds = site
    page.sign_in("admin@acme.test", PASSWORD)
    page.open("/admin/connections")
    assert page.visible("#datasources-section") and page.visible("#datasource-form")
    assert page.texts("#datasources tbody td.empty") == ["Nothing to show."]

    # A host the platform does not allow: refused beside the form, naming the setting; nothing stored.
    fill(page, id="warehouse", url=ds.url(password=False, host="10.1.2.3"), password=ds.password)
    submitted(page)
    refused = page.find("#outcome-refused")
    assert refused.get_attribute("data-code") == "connection_host_not_allowed"
    assert "ATLAS_CONNECTION_ALLOWED_HOSTS" in refused.text and "10.1.2.3" in refused.text
    assert page.visible("#err-conn-url") and page.find("#conn-url").get_attribute("aria-invalid") == "true"
    page.shot("connections-refused")
    assert stored(world) == []

    # The right host: saved, then tested at once; the password is never shown again.
    fill(page, url=ds.url(password=False), description="Sales warehouse")
    submitted(page)
    result = page.find("#outcome-test")
    assert result.get_attribute("data-ok") == "true" and "connected in" in result.text and "PostgreSQL" in result.text
    page.wait(lambda d: page.find_all("#datasources tr[data-id='warehouse']"))
    cells = page.texts("#datasources tr[data-id='warehouse'] td")
    assert cells[:5] == ["warehouse", f"postgresql://{ds.role}@{ds.host}:{ds.port}/{ds.dbname}?sslmode=prefer",
                         "Sales warehouse", "stored", "1"]
    assert ds.password not in page.driver.page_source
    page.shot("connections-tested")
    assert stored(world) == ["warehouse"]

    # Edit: a database that does not exist is allowed on this server, and the test says why it fails.
    page.find("#datasources tr[data-id='warehouse'] button.edit").click()
    assert page.find("#conn-id").get_attribute("readonly") is not None
    assert page.find("#form-heading").text == "Edit warehouse"
    fill(page, url=ds.url(password=False).replace(ds.dbname, "no_such_db"))
    submitted(page)
    failed = page.find("#outcome-test")
    assert failed.get_attribute("data-ok") == "false" and "no_such_db" in failed.text
    page.wait(lambda d: "no_such_db" in page.find("#datasources tr[data-id='warehouse']").text)
    assert page.texts("#datasources tr[data-id='warehouse'] td")[3:5] == ["stored", "2"]  # the password kept

    # Edit to the server's maintenance database: refused beside the form; the stored URL unchanged.
    page.find("#datasources tr[data-id='warehouse'] button.edit").click()
    fill(page, url=ds.url(password=False).replace(ds.dbname, "template1"))
    submitted(page)
    assert "maintenance database" in page.find("#outcome-refused").text
    page.find("#cancel-edit").click()
    assert page.find("#form-heading").text == "Add a connection" and page.find("#conn-id").get_attribute("value") == ""
    assert "no_such_db" in world.call("GET", f"{BASE}/warehouse", as_="owner@acme.test")["url"]

    # The row's Test button, then Delete (confirmed).
    page.driver.execute_script("document.getElementById('outcome').replaceChildren()")
    page.find("#datasources tr[data-id='warehouse'] button.test").click()
    page.wait(lambda d: page.find_all("#outcome-test"))
    assert page.find("#outcome-test").get_attribute("data-ok") == "false"
    page.driver.execute_script("window.confirm = () => true")
    page.find("#datasources tr[data-id='warehouse'] button.delete").click()
    page.wait(lambda d: not page.find_all("#datasources tr[data-id='warehouse']"))
    assert "was deleted" in page.find("#notice").text
    assert stored(world) == []
    with psycopg.connect(ds.admin_url) as conn:  # the datasource itself untouched
        assert conn.execute("SELECT count(*) FROM sales").fetchone()[0] > 0


def test_a_member_sees_the_datasources_but_no_form_and_another_org_sees_none(site):
    page, world, ds = site
    world.call("POST", BASE, {"id": "shared", "url": ds.url()}, as_="owner@acme.test")
    try:
        page.sign_in("member@acme.test", PASSWORD)
        assert not page.find_all(".sidebar a[href='/admin/connections']")
        page.open("/admin/connections")
        assert page.find_all("#datasources tr[data-id='shared']")
        assert not page.visible("#datasource-form")
        assert not page.find_all("#datasources button")
        page.sign_in("owner@globex.test", PASSWORD)
        page.open("/admin/connections")
        assert not page.find_all("#datasources tr[data-id='shared']")
        assert page.texts("#datasources tbody td.empty") == ["Nothing to show."]
    finally:
        world.call("DELETE", f"{BASE}/shared", as_="owner@acme.test")
