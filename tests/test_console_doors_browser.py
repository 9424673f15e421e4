"""The console's newer doors in a real browser (headless Chromium): where sign-in sends you (`next`),
API keys, jobs, and the console's 404 page.

One live server and one browser for the module (tests/support/browser.py); the world is built over HTTP
first (tests/support/console_world.py). The redirect cases are attacks: a `next` that the URL parser
turns into another origin must leave the browser on the console's own.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from selenium.webdriver.common.keys import Keys

from app.auth import api_keys
from app.devdb import databases
from app.devdb.databases import DatabaseFactory
from tests.support.browser import Page, chromium, console_server
from tests.support.console_world import PASSWORD, World, build_world
from tests.support.jobs import atlas_worker
from tests.support.serving import request


@dataclass
class Live:
    db: databases.TestDatabase
    port: int
    folder: Path


@pytest.fixture(scope="module")
def live(db_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Live, Page, World]]:
    db = db_factory.clone()
    folder = tmp_path_factory.mktemp("doors")
    try:
        with console_server(db, semantic_root=str(folder / "semantic")) as served, chromium() as driver:
            world = build_world(served.port, contacts=3)
            yield Live(db, served.port, folder), Page(driver, served.port, folder / "shots"), world
    finally:
        db_factory.drop(db.name)


@pytest.fixture(scope="module")
def site(live) -> tuple[Page, World]:
    return live[1], live[2]


@pytest.fixture(scope="module")
def worker(live) -> Iterator[None]:
    """`atlas worker` running beside the console for the job tests."""
    with atlas_worker(live[0].db, live[0].folder):
        yield


# ----- where sign-in sends you ------------------------------------------------------------------------
# Each is the raw query value of `next` as an attacker writes it in a link (already percent-encoded where
# the attacker chose to): control characters the URL parser drops, backslashes it reads as slashes,
# scheme-relative and absolute URLs, schemes, and the same again percent-encoded once more.
HOSTILE_NEXT = [
    "/%09/evil.example/",          # tab: dropped by the parser, leaving //evil.example/
    "/%0A/evil.example/",          # newline
    "/%0D/evil.example/",          # carriage return
    "%09//evil.example/",          # leading tab
    "%20//evil.example/",          # leading space: stripped by the parser
    "/%5Cevil.example/",           # /\evil.example: a backslash is a slash in http URLs
    "%5C%5Cevil.example/",         # \\evil.example
    "/%09%5Cevil.example/",        # tab then backslash
    "//evil.example/",             # scheme-relative
    "%2F%2Fevil.example/",         # the same, percent-encoded
    "/.//evil.example/",           # a dot segment the parser removes, leaving //evil.example/
    "http://evil.example/",
    "https:evil.example",          # a scheme without slashes
    "HTTP:%2F%2Fevil.example",
    "javascript:alert(document.domain)",
    "JaVaScRiPt%3Aalert(1)",
    "%09javascript:alert(1)",
    "data:text/html,hello",
    "%2509%2F%2Fevil.example",     # double-encoded: stays a path on this origin, not a console page
    "/api/v1/contacts",            # this origin, but not a console page
]


def _sign_in_with_next(page: Page, raw_next: str, *, via: str = "sign-in") -> str:
    """Sign in (or up) from `/<via>?next=<raw_next>` through the form; the URL the browser ends on."""
    page.driver.delete_all_cookies()
    page.open(f"/{via}?next={raw_next}")
    if via == "sign-in":
        page.find("#si-email").send_keys("member@acme.test")
        page.find("#si-password").send_keys(PASSWORD)
        page.find("#si-password").send_keys(Keys.ENTER)
    else:
        email = f"new{abs(hash(raw_next)) % 10**8}@acme.test"
        page.find("#su-name").send_keys("New")
        page.find("#su-email").send_keys(email)
        page.find("#su-password").send_keys(PASSWORD)
        page.find("#su-password").send_keys(Keys.ENTER)
    # Wait until the browser left the form's page (wherever it went), then for that page to settle.
    page.wait(lambda d: urlsplit(d.current_url).path != f"/{via}"
              and d.execute_script("return document.readyState") == "complete")
    return str(page.driver.current_url)


# Signed in through the page for each of these (the cases); every value of HOSTILE_NEXT is
# also resolved by the page's own function in the browser below, which is quicker than a sign-in each.
SIGNED_IN_NEXT = ["/%09/evil.example/", "/%0A/evil.example/", "/%0D/evil.example/", "/%5Cevil.example/",
                  "//evil.example/", "%2F%2Fevil.example/", "/.//evil.example/", "javascript:alert(document.domain)"]


def test_every_hostile_next_resolves_to_the_default_page_with_the_browsers_parser(site):
    page, _ = site
    page.open("/sign-in")
    resolved = page.driver.execute_async_script(
        "const [values, done] = [arguments[0], arguments[arguments.length - 1]];"
        "import('/static/console/js/auth.js').then((auth) => done(values.map("
        "  (raw) => auth.nextUrl(new URLSearchParams('next=' + raw).get('next')))));", HOSTILE_NEXT)
    assert dict(zip(HOSTILE_NEXT, resolved)) == dict.fromkeys(HOSTILE_NEXT, f"{page.base}/")


@pytest.mark.parametrize("raw_next", SIGNED_IN_NEXT)
def test_a_hostile_next_after_sign_in_stays_on_the_consoles_origin(site, raw_next):
    page, _ = site
    landed = _sign_in_with_next(page, raw_next)
    assert urlsplit(landed).netloc == f"127.0.0.1:{page.port}", (raw_next, landed)
    page.wait_ready()
    # The default page: the CRM (signed in, with the member's org).
    assert urlsplit(page.driver.current_url).path == "/crm/contacts", (raw_next, page.driver.current_url)


def test_a_hostile_next_after_sign_up_stays_on_the_consoles_origin(site):
    page, _ = site
    landed = _sign_in_with_next(page, "/%09/evil.example/", via="sign-up")
    assert urlsplit(landed).netloc == f"127.0.0.1:{page.port}", landed


@pytest.mark.parametrize("wanted", ["/crm/accounts", "/crm/contacts?sort=first_name&order=desc", "/ask"])
def test_a_legitimate_next_still_opens_that_page(site, wanted):
    page, _ = site
    landed = _sign_in_with_next(page, quote(wanted, safe=""))
    page.wait_ready()
    parts = urlsplit(landed)
    assert parts.netloc == f"127.0.0.1:{page.port}"
    assert parts.path + (f"?{parts.query}" if parts.query else "") == wanted


# ----- API keys -----------------------------------------------------------------------------------------
def _key_row(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.find(f"#keys tr[data-name='{name}']")


def _key_status(page: Page, name: str) -> str | None:
    """Read in one script, so a table refreshed meanwhile never leaves a stale element behind."""
    return page.driver.execute_script(  # type: ignore[no-any-return]
        "const row = Array.from(document.querySelectorAll('#keys tbody tr'))"
        ".find(r => r.dataset.name === arguments[0]); return row ? row.dataset.status : null;", name)


def test_an_admin_creates_a_key_sees_its_secret_once_and_revokes_it_and_the_api_refuses_it(site):
    page, world = site
    page.sign_in("admin@acme.test", PASSWORD)
    assert page.visible(".sidebar a[href='/admin/api-keys']")
    page.navigating(lambda: page.find(".sidebar a[href='/admin/api-keys']").click())
    assert page.find("h1").text == "API keys"
    # A key acts with at most its creator's role: an admin is offered member and admin.
    assert [o.get_attribute("value") for o in page.find_all("#key-role option")] == ["member", "admin"]
    assert not page.visible("#secret")
    page.find("#key-name").send_keys("nightly export")
    page.find("#new-key button[type=submit]").click()
    page.wait(lambda d: page.visible("#secret") and page.find("#secret-value").get_attribute("value"))
    secret = page.find("#secret-value").get_attribute("value")
    assert secret.startswith("atlas_") and "Created the key nightly export (member)" in page.find("#notice").text
    page.wait(lambda d: _key_status(page, "nightly export") == "active")
    row = _key_row(page, "nightly export")
    assert row.get_attribute("data-status") == "active" and secret not in row.text
    shown = len(api_keys.PREFIX) + 32 + 1 + api_keys.SHOWN_CHARS  # atlas_<org hex>_<first characters>
    assert row.find_element("css selector", "code").text == secret[:shown] + "…"

    # Copy puts the secret on the clipboard.
    page.driver.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": page.base, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    page.find("#copy-secret").click()
    page.wait(lambda d: "Copied the key" in page.find("#notice").text)
    copied = page.driver.execute_async_script(
        "const done = arguments[arguments.length - 1]; navigator.clipboard.readText().then(done, e => done('!' + e))")
    assert copied == secret
    page.shot("api-keys")

    status, _, body = request(page.port, "GET", "/api/v1/contacts?limit=1", token=secret)
    assert status == 200, body

    # Shown once: the list and a fresh page never hold the secret again.
    page.open("/admin/api-keys")
    assert secret not in page.driver.page_source and not page.visible("#secret")
    listed = world.call("GET", "/api/v1/admin/api-keys", as_="owner@acme.test")["data"]
    assert secret not in str(listed)

    row = _key_row(page, "nightly export")
    row.find_element("css selector", "button.revoke").click()
    page.driver.switch_to.alert.accept()
    page.wait(lambda d: _key_status(page, "nightly export") == "revoked")
    row = _key_row(page, "nightly export")
    assert row.find_element("css selector", ".key-status").text.startswith("revoked")
    assert row.find_elements("css selector", "button.revoke") == []
    status, _, body = request(page.port, "GET", "/api/v1/contacts?limit=1", token=secret)
    assert status == 401, body
    revoked = next(k for k in world.call("GET", "/api/v1/admin/api-keys", as_="owner@acme.test")["data"]
                   if k["name"] == "nightly export")
    assert revoked["revokedAt"] is not None


def test_a_key_form_shows_the_apis_field_error_beside_the_field(site):
    page, world = site
    page.sign_in("admin@acme.test", PASSWORD)
    page.open("/admin/api-keys")
    before = len(world.call("GET", "/api/v1/admin/api-keys", as_="owner@acme.test")["data"])
    page.find("#new-key button[type=submit]").click()  # no name
    page.wait(lambda d: page.visible("#err-key-name"))
    assert page.find("#key-name").get_attribute("aria-invalid") == "true"
    assert not page.visible("#secret")
    assert len(world.call("GET", "/api/v1/admin/api-keys", as_="owner@acme.test")["data"]) == before


def test_a_member_sees_no_api_keys_page_or_actions_and_the_api_refuses_them(site):
    page, world = site
    key = world.call("POST", "/api/v1/admin/api-keys", {"name": "owner's key", "role": "member"}, as_="owner@acme.test")
    page.sign_in("member@acme.test", PASSWORD)
    assert page.find_all(".sidebar a[href='/admin/api-keys']") == []
    page.open("/admin/api-keys")
    assert page.find("h1").text == "Forbidden (403)"
    assert page.find_all("#new-key") == [] and page.find_all("button.revoke") == []
    assert key["key"] not in page.driver.page_source
    member = world.tokens["member@acme.test"]
    for method, path, body in (("GET", "/api/v1/admin/api-keys", None),
                               ("POST", "/api/v1/admin/api-keys", {"name": "mine", "role": "member"}),
                               ("DELETE", f"/api/v1/admin/api-keys/{key['id']}", None)):
        status, _, answer = request(page.port, method, path, body, member)
        assert status == 403, (method, path, answer)
    status, _, _ = request(page.port, "GET", "/api/v1/contacts?limit=1", token=key["key"])
    assert status == 200  # the owner's key still works: the member's revoke changed nothing
    names = [k["name"] for k in world.call("GET", "/api/v1/admin/api-keys", as_="owner@acme.test")["data"]]
    assert "mine" not in names


# ----- jobs --------------------------------------------------------------------------------------------
def _job_id(page: Page) -> str:
    return str(page.driver.execute_script("return document.querySelector('#job').dataset.jobId"))


def test_an_admin_queues_a_job_and_watches_it_finish_with_the_worker_running(site, worker):
    page, world = site
    page.sign_in("admin@acme.test", PASSWORD)
    page.navigating(lambda: page.find(".sidebar a[href='/jobs']").click())
    assert page.find("h1").text == "Jobs"
    assert sorted(o.get_attribute("value") for o in page.find_all("#job-kind option")) == [
        "reprofile", "scheduled_query", "warm_cache"]
    page.find("#job-kind option[value=reprofile]").click()
    page.find("[id='job-payload.tables-reprofile']").send_keys("contacts")
    page.find("#queue button[type=submit]").click()
    page.wait(lambda d: page.find_all("#queued-job"))
    page.navigating(lambda: page.find("#queued-job").click())
    page.wait(lambda d: d.execute_script("return document.body.dataset.jobStatus") == "succeeded", timeout_s=60)
    assert page.find("#job-progress-text").text == "1/1 · profiled contacts"
    assert page.find("#job-progress").get_attribute("value") == "1"
    assert '"tables": 1' in page.find("#job-result").text
    assert "kind\nreprofile" in page.find("#job-meta").text and "status\nsucceeded" in page.find("#job-meta").text
    assert page.find_all("#job-actions button") == []  # a finished job has nothing to cancel or retry
    page.shot("job")
    job = world.call("GET", f"/api/v1/jobs/{_job_id(page)}", as_="member@acme.test")
    assert (job["status"], job["payload"], job["createdBy"]) == ("succeeded", {"tables": ["contacts"]},
                                                                 job["createdBy"])
    page.open("/jobs?status=succeeded")
    row = page.find(f"#jobs tr[data-job-id='{job['id']}']")
    assert row.find_element("css selector", ".job-status").text == "succeeded"


def test_a_schedule_is_canceled_then_retried_and_its_kept_result_is_shown(site, worker):
    page, world = site
    page.sign_in("admin@acme.test", PASSWORD)
    page.open("/jobs")
    page.find("#job-kind option[value=scheduled_query]").click()
    sql = page.find("[id='job-payload.sql-scheduled_query']")
    sql.send_keys("SELECT count(*) AS contacts FROM contacts")
    page.find("#queue button[type=submit]").click()  # no schedule: the API names the field
    page.wait(lambda d: page.visible("#err-job-schedule"))
    assert page.find("#job-schedule").get_attribute("aria-invalid") == "true"
    page.find("#job-schedule").send_keys("0 0 1 1 *")  # next 1 January: it waits, queued
    page.find("#queue button[type=submit]").click()
    page.wait(lambda d: page.find_all("#queued-job"))
    page.wait(lambda d: page.find_all("#schedules tbody tr[data-status=queued]"))
    row = page.find("#schedules tbody tr[data-status=queued]")
    job_id = row.get_attribute("data-job-id")
    assert "0 0 1 1 *" in row.text
    page.driver.execute_script("document.querySelector('#schedules-heading').scrollIntoView()")
    page.shot("jobs")

    row.find_element("css selector", "button.cancel").click()
    page.wait(lambda d: page.find_all(f"#schedules tr[data-job-id='{job_id}'][data-status=canceled]"))
    assert world.call("GET", f"/api/v1/jobs/{job_id}", as_="owner@acme.test")["status"] == "canceled"

    page.open(f"/jobs/{job_id}")
    page.find("#job-actions button.retry").click()  # queued again for now: the worker runs it at once
    page.wait(lambda d: page.find_all("#kept table.kept-result tbody td"), timeout_s=60)
    assert page.texts("#kept table.kept-result thead th") == ["contacts"]
    assert page.texts("#kept table.kept-result tbody td") == ["3"]
    # Done, it waits for its next time again.
    page.wait(lambda d: d.execute_script("return document.body.dataset.jobStatus") == "queued"
              and "runs after" in page.find("#job-meta").text)
    assert world.call("GET", f"/api/v1/jobs/{job_id}/results", as_="member@acme.test")["data"]


def test_a_member_sees_the_jobs_but_may_not_queue_cancel_or_retry_and_the_api_refuses(site):
    page, world = site
    queued = world.call("POST", "/api/v1/jobs", {"kind": "warm_cache", "schedule": "0 0 1 1 *"},
                        as_="owner@acme.test")
    page.sign_in("member@acme.test", PASSWORD)
    assert page.visible(".sidebar a[href='/jobs']")
    assert page.find_all(".sidebar a[href^='/admin/']") == []
    page.open("/jobs")
    assert page.find_all("#queue") == []
    assert page.find(f"#schedules tr[data-job-id='{queued['id']}']").get_attribute("data-status") == "queued"
    assert page.find_all("button.cancel") == [] and page.find_all("button.retry") == []
    page.open(f"/jobs/{queued['id']}")
    assert page.find_all("#job-actions button") == []
    member = world.tokens["member@acme.test"]
    for path, body in (("/api/v1/jobs", {"kind": "warm_cache"}), (f"/api/v1/jobs/{queued['id']}/cancel", None)):
        status, _, answer = request(page.port, "POST", path, body, member)
        assert status == 403, (path, answer)
    assert world.call("GET", f"/api/v1/jobs/{queued['id']}", as_="owner@acme.test")["status"] == "queued"
    world.call("POST", f"/api/v1/jobs/{queued['id']}/cancel", as_="owner@acme.test")


# ----- the 404 page ------------------------------------------------------------------------------------
def test_an_unknown_page_shows_the_consoles_404_page_with_a_link_home(site):
    page, _ = site
    page.sign_in("member@acme.test", PASSWORD)
    for path in ("/no/such/page", "/crm/no-such-entity", "/admin/no-such-section"):
        page.open(path)
        assert page.find("h1").text == "Page not found (404)"
        assert path in page.find("#not-found").text
    page.shot("not-found")
    page.navigating(lambda: page.find("#home-link").click())
    assert urlsplit(page.driver.current_url).path == "/crm/contacts"
