"""The console in a real browser (headless Chromium): sign-in, the org switcher, CRM pages, members, roles.

One live server and one browser for the module; the world is built over HTTP first
(tests/support/console_world.py). Every check reads what the page shows a person.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium.webdriver.common.keys import Keys

from app.devdb.databases import DatabaseFactory
from tests.support.browser import Page, chromium, console_server
from tests.support.console_world import PASSWORD, World, build_world


@pytest.fixture(scope="module")
def site(db_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Page, World]]:
    db = db_factory.clone()
    try:
        with console_server(db) as served, chromium() as driver:
            world = build_world(served.port)
            yield Page(driver, served.port, tmp_path_factory.mktemp("shots")), world
    finally:
        db_factory.drop(db.name)


def test_sign_in_with_a_wrong_password_says_so_and_the_right_one_opens_the_crm(site):
    page, _ = site
    page.driver.delete_all_cookies()
    page.open("/sign-in")
    page.shot("sign-in")
    page.find("#si-email").send_keys("member@acme.test")
    page.find("#si-password").send_keys("not the password")
    page.find("#sign-in-form button[type=submit]").click()
    page.wait(lambda d: page.visible("#notice .error"))
    assert "Invalid email or password" in page.find("#notice").text
    page.sign_in("member@acme.test", PASSWORD)
    assert page.driver.current_url.endswith("/crm/contacts")
    assert "Acmeonly" in page.find("#rows").text
    assert "member@acme.test" in page.find("#who-name").text


def test_an_anonymous_visit_goes_to_sign_in_and_back_after(site):
    page, _ = site
    page.driver.delete_all_cookies()
    page.open("/crm/accounts")
    assert "/sign-in?next=" in page.driver.current_url
    page.find("#si-email").send_keys("member@acme.test")
    page.find("#si-password").send_keys(PASSWORD)
    page.navigating(lambda: page.find("#sign-in-form button[type=submit]").click())
    assert page.driver.current_url.endswith("/crm/accounts")


def test_the_switcher_is_hidden_for_a_one_org_user(site):
    page, _ = site
    page.sign_in("member@acme.test", PASSWORD)
    assert not page.visible("#org-switcher")
    assert page.find_all("#org-list button") == []


def test_the_switcher_marks_the_active_org_and_switching_shows_only_the_new_orgs_contacts(site):
    page, _ = site
    page.sign_in("both@acme.test", PASSWORD)
    assert page.visible("#org-switcher")
    buttons = page.find_all("#org-list button")
    assert sorted(b.find_element("css selector", ".org-label").text for b in buttons) == ["Acme", "Globex"]
    assert len(page.find_all("#org-list button[aria-current=true]")) == 1
    active = page.find("#org-list button[aria-current=true]")
    assert active.find_element("css selector", ".org-label").text == "Acme"
    assert active.find_element("css selector", ".check").text == "✓"
    assert "Acmeonly" in page.find("#rows").text
    page.shot("contacts")
    old_token = page.driver.get_cookie("better-auth.session_token")["value"]
    globex = next(b for b in buttons if "Globex" in b.text)
    page.navigating(lambda: globex.send_keys(Keys.ENTER))  # by keyboard: focus the button, press Enter
    active = page.find("#org-list button[aria-current=true]")
    assert active.find_element("css selector", ".org-label").text == "Globex"
    assert active.find_element("css selector", ".check").text == "✓"
    rows = page.find("#rows").text
    assert "Globexonly" in rows and "Acmeonly" not in rows
    assert page.driver.get_cookie("better-auth.session_token")["value"] != old_token  # set-active's fresh session


def test_a_member_sees_no_admin_links_and_an_admin_url_shows_the_apis_403(site):
    page, _ = site
    page.sign_in("member@acme.test", PASSWORD)
    assert page.find_all(".sidebar a[href^='/admin/']") == []
    assert page.find_all(".sidebar a[href^='/platform/']") == []
    page.open("/admin/audit")
    assert page.find("h1").text == "Forbidden (403)"
    assert "only admin or owner may do this" in page.find("#forbidden").text
    page.shot("forbidden")
    page.open("/platform/organizations")
    assert page.find("h1").text == "Forbidden (403)"
    # The matrix lets members read members and connections (no pool numbers): those pages open, read-only.
    page.open("/admin/connections")
    assert page.find("h1").text == "Connections"


def test_an_admin_invites_a_member_who_joins_through_the_link_and_changes_a_role(site):
    page, world = site
    page.sign_in("admin@acme.test", PASSWORD)
    assert page.visible(".sidebar a[href='/admin/members']")
    page.open("/admin/members")
    page.find("#invite-email").send_keys("newcomer@acme.test")
    page.find("#invite").submit()
    page.wait(lambda d: page.visible("#invitation-url"))
    link = page.find("#invitation-url").text
    assert link.startswith(page.base + "/accept-invitation/")
    page.wait(lambda d: "newcomer@acme.test" in page.find("#invitations").text)

    row = page.find("#members tr[data-email='analyst@acme.test']")
    select = row.find_element("css selector", "select")
    select.find_element("css selector", "option[value=admin]").click()
    row.find_element("css selector", "button.change-role").click()
    page.wait(lambda d: "analyst@acme.test is now admin" in page.find("#notice").text)
    roles = {m["user"]["email"]: m["role"]
             for m in world.call("GET", "/api/auth/organization/list-members", as_="owner@acme.test")["members"]}
    assert roles["analyst@acme.test"] == "admin"
    page.shot("members")

    page.driver.delete_all_cookies()
    page.open(link.removeprefix(page.base))
    page.find("#su-name").send_keys("Newcomer")
    page.find("#su-email").send_keys("newcomer@acme.test")
    page.find("#su-password").send_keys(PASSWORD)
    page.navigating(lambda: page.find("#sign-up-form button[type=submit]").click())
    assert page.driver.current_url.endswith("/crm/contacts")
    assert "Acmeonly" in page.find("#rows").text
    assert "newcomer@acme.test" in page.find("#who-name").text


def test_a_create_form_shows_the_apis_field_errors_beside_the_fields_then_creates_edits_and_deletes(site):
    page, _ = site
    page.sign_in("member@acme.test", PASSWORD)
    page.open("/crm/contacts/new")
    page.find("#email").send_keys("not an email")
    page.find("#record button[type=submit]").click()
    page.wait(lambda d: page.visible("#err-first_name"))
    assert page.find("#err-first_name").text == "is required"
    assert page.find("#err-email").text
    assert page.find("#first_name").get_attribute("aria-invalid") == "true"
    page.shot("contact-form-errors")
    page.find("#first_name").send_keys("Zelda")
    page.find("#last_name").send_keys("Createdhere")
    page.find("#email").clear()
    page.find("#email").send_keys("zelda@example.test")
    page.navigating(lambda: page.find("#record button[type=submit]").click())
    assert "/crm/contacts/" in page.driver.current_url
    assert page.find("#first_name").get_attribute("value") == "Zelda"
    page.find("#title").send_keys("Chief Tester")
    page.find("#record button[type=submit]").click()
    page.wait(lambda d: "Saved." in page.find("#notice").text)
    page.open(page.driver.current_url.removeprefix(page.base))
    assert page.find("#title").get_attribute("value") == "Chief Tester"
    page.find("#delete").click()
    page.driver.switch_to.alert.accept()
    page.wait(lambda d: d.current_url.endswith("/crm/contacts"))
    page.wait_ready()
    page.open("/crm/contacts?last_name=Createdhere")
    assert "Nothing to show." in page.find("#rows").text


def test_a_list_pages_by_cursor_sorts_and_filters(site):
    page, _ = site
    page.sign_in("member@acme.test", PASSWORD)
    page.open("/crm/contacts?sort=first_name&order=desc")
    first_page = page.texts("#rows tbody tr td:first-child")
    assert len(first_page) == 25 and first_page[0] == "Ada29"
    page.find("#next-page").click()
    page.wait(lambda d: page.find("#page-number").text == "Page 2")
    second_page = page.texts("#rows tbody tr td:first-child")
    assert second_page and not set(second_page) & set(first_page)
    page.open("/crm/contacts")
    page.find("#filter-lifecycle_stage option[value=customer]").click()
    page.navigating(lambda: page.find("#list-controls button[type=submit]").click())
    assert "lifecycle_stage=customer" in page.driver.current_url
    shown = page.find_all("#rows tbody tr")
    assert len(shown) == 10


def test_pages_are_readable_at_390_px_and_every_field_is_labelled(site):
    page, _ = site
    page.sign_in("admin@acme.test", PASSWORD)
    unlabelled = []
    for path in ("/crm/contacts", "/crm/opportunities/new", "/ask", "/admin/members", "/admin/settings",
                 "/admin/audit", "/admin/semantic", "/admin/api-keys", "/jobs"):
        page.open(path)
        unlabelled += page.driver.execute_script(
            "return Array.from(document.querySelectorAll('input, select, textarea'))"
            ".filter(e => e.type !== 'hidden' && !e.labels.length && !e.getAttribute('aria-label'))"
            ".map(e => location.pathname + ' ' + (e.id || e.name));")
    assert unlabelled == []
    page.driver.set_window_size(390, 844)
    try:
        for path in ("/crm/contacts", "/admin/members", "/ask", "/admin/api-keys", "/jobs"):
            page.open(path)
            width = page.driver.execute_script("return document.documentElement.scrollWidth")
            inner = page.driver.execute_script("return window.innerWidth")
            assert width <= inner, (path, width, inner)
        page.open("/crm/contacts")
        page.shot("contacts-390px")
    finally:
        page.driver.set_window_size(1280, 860)


def test_data_that_looks_like_html_is_shown_as_text_and_never_runs(site):
    page, world = site
    payload = '<img src=x onerror="window.__pwned=1">'
    row = world.call("POST", "/api/v1/contacts", {"first_name": payload, "last_name": "Xssonly"}, as_="owner@acme.test")
    page.sign_in("member@acme.test", PASSWORD)
    page.open("/crm/contacts?last_name=Xssonly")
    assert page.find("#rows tbody a").text == payload
    page.open(f"/crm/contacts/{row['id']}")
    assert page.find("#first_name").get_attribute("value") == payload
    assert page.find_all("#main img") == []
    assert page.driver.execute_script("return window.__pwned === undefined")
    world.call("DELETE", f"/api/v1/contacts/{row['id']}", as_="owner@acme.test")
