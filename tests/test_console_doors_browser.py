"""The console's newer doors in a real browser (headless Chromium): where sign-in sends you (`next`),
API keys, jobs, and the console's 404 page.

One live server and one browser for the module (tests/support/browser.py); the world is built over HTTP
first (tests/support/console_world.py). The redirect cases are attacks: a `next` that the URL parser
turns into another origin must leave the browser on the console's own.
"""
from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import pytest
from selenium.webdriver.common.keys import Keys

from tests.support.browser import Page, chromium, console_server
from tests.support.console_world import PASSWORD, World, build_world
from tests.support.databases import DatabaseFactory


@pytest.fixture(scope="module")
def site(db_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Page, World]]:
    db = db_factory.clone()
    try:
        with console_server(db) as served, chromium() as driver:
            world = build_world(served.port, contacts=3)
            yield Page(driver, served.port, tmp_path_factory.mktemp("shots")), world
    finally:
        db_factory.drop(db.name)


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


@pytest.mark.parametrize("raw_next", HOSTILE_NEXT)
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
