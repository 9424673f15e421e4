"""The console's pages without a browser: headers, no inline script, escaping, and CSRF attacks that fail.

Page shells are generated from the URL map, so a new console page is covered unasked. The CSRF
tests are attacks: a cross-site form (text/plain or form-encoded, the only bodies a form can send
without a CORS preflight) riding the victim's session cookie must change nothing.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser

import psycopg
import pytest
from psycopg import sql

from app.console import CSP
from app.console.pages import ADMIN_LINKS, ANALYTICS_LINKS, JOB_FORMS
from app.jobs.kinds import PUBLIC_KINDS
from app.permissions import access_of
from tests.support.api import PASSWORD
from tests.support.errors import error_code

SAMPLE_ARGS = {"entity": "contacts", "row_id": "00000000-0000-0000-0000-000000000001", "section": "members",
               "invitation_id": "00000000-0000-0000-0000-000000000002", "org_id": "00000000-0000-0000-0000-000000000003",
               "job_id": "00000000-0000-0000-0000-000000000004"}


def count_rows(admin_url: str, table: str, org_id: object) -> int:
    """Rows of `table` in one org, read as the superuser (no RLS), to prove an attack wrote nothing."""
    with psycopg.connect(admin_url) as conn:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE org_id = %s").format(sql.Identifier(table)),
                           (org_id,)).fetchone()
    assert row is not None
    return int(row[0])


class _Inline(HTMLParser):
    """Collects what the CSP would block or what would run inline: handlers, styles, scripts without src."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.assets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        for name, value in attrs:
            if name.startswith("on") or name == "style" or (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=...>")
        if tag == "script":
            if not names.get("src"):
                self.problems.append("<script> without src")
            else:
                self.assets.append(str(names["src"]))
        if tag == "link" and names.get("rel") == "stylesheet":
            self.assets.append(str(names["href"]))
        if tag == "style":
            self.problems.append("<style>")


def page_paths(app) -> list[str]:  # type: ignore[no-untyped-def]
    paths = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "console.admin":  # every declared admin page, not one sample
            paths += [link["path"] for link in ADMIN_LINKS]
        elif rule.endpoint.startswith("console.") and rule.endpoint != "console.asset":
            paths.append(re.sub(r"<(?:\w+:)?(\w+)>", lambda m: SAMPLE_ARGS[m.group(1)], rule.rule))
    return sorted(paths)


def test_every_page_is_public_needs_no_session_and_holds_no_inline_script_handler_or_style(shared_orgs):
    app = shared_orgs.app
    client = app.test_client()
    paths = page_paths(app)
    assert "/sign-in" in paths and "/admin/members" in paths and "/accept-invitation/" + SAMPLE_ARGS["invitation_id"] in paths
    for path in paths:
        response = client.get(path)
        if path == "/":
            assert response.status_code == 302
            continue
        assert response.status_code == 200, path
        assert response.headers["Content-Security-Policy"] == CSP
        assert response.headers["X-Frame-Options"] == "DENY"
        parser = _Inline()
        parser.feed(response.get_data(as_text=True))
        assert parser.problems == [], (path, parser.problems)
        for asset in parser.assets:
            with client.get(asset) as served:
                assert served.status_code == 200, asset
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("console."):
            assert access_of(app.view_functions[rule.endpoint]).kind == "public"


def test_the_jobs_page_has_a_form_for_every_kind_the_api_offers_and_no_other():
    assert sorted(JOB_FORMS) == sorted(PUBLIC_KINDS)


def _needs() -> list[tuple[str, str]]:
    """Every `need` the console declares: the page registry's links, templates' data-need, scripts' allowed()."""
    from app.console import STATIC

    found = [("pages.py", link["need"]) for link in (*ADMIN_LINKS, *ANALYTICS_LINKS)]
    for template in sorted((STATIC.parent / "templates").glob("*.html")):
        found += [(template.name, need) for need in re.findall(r'data-need="([^"{]+)"', template.read_text())]
    for script in sorted((STATIC / "js").glob("*.js")):
        found += [(script.name, need) for need in re.findall(r"allowed\('([^']+)'", script.read_text())]
    return found


def test_every_declared_need_names_a_real_matrix_cell_role_or_audience():
    """A typo in a need would hide a link or an action from everyone without a word: refuse it here."""
    from app.permissions import ACTIONS, PERMISSIONS
    from app.roles import ROLES

    needs = _needs()
    assert {"matrix:apiKey:create", "matrix:job:update", "matrix:job:read"} <= {n for _, n in needs}
    for where, need in needs:
        for one in need.split("|"):
            kind, *rest = one.split(":")
            if kind == "matrix":
                resource, action = rest
                assert resource in PERMISSIONS and action in ACTIONS, (where, need)
            elif kind == "roles":
                assert rest and set(rest[0].split(",")) <= set(ROLES), (where, need)
            else:
                assert (kind, rest) == ("platform", []), (where, need)


def test_the_csp_allows_no_inline_script_or_style_and_no_other_origin():
    assert "'unsafe-inline'" not in CSP and "'unsafe-eval'" not in CSP
    directives = dict(part.split(" ", 1) for part in CSP.split("; "))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'" and directives["frame-ancestors"] == "'none'"


def test_every_script_writes_data_with_text_content_never_inner_html():
    from app.console import STATIC

    scripts = sorted((STATIC / "js").glob("*.js"))
    assert scripts
    for script in scripts:
        text = re.sub(r"//[^\n]*", "", script.read_text())  # comments may name the sinks they avoid
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in text, (script.name, sink)


# Where a script may send the browser: a literal path on this origin, or a function that checks its URL.
_CHECKED_TARGETS = ("nextPath()", "signInUrl()", "detail[0].slice(0, -1)")


def _call_arguments(text: str, call: str) -> list[str]:
    """The argument text of every `call(...)` in `text`, parentheses balanced."""
    found = []
    for match in re.finditer(re.escape(call), text):
        depth, end = 1, match.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        found.append(text[match.end():end - 1])
    return found


def test_every_navigation_in_the_scripts_goes_to_a_literal_path_or_a_checked_url():
    """An open redirect needs a sink fed with data: only location.assign is used, and only with these."""
    from app.console import STATIC

    for script in sorted((STATIC / "js").glob("*.js")):
        text = re.sub(r"//[^\n]*", "", script.read_text())
        for sink in ("location.href", "location.replace", "window.open", "location =", ".location="):
            assert sink not in text, (script.name, sink)
        for target in _call_arguments(text, "location.assign("):
            for branch in re.split(r" \? | : ", target):
                literal = re.fullmatch(r"(['`])/([^/\\'`][^'`]*)?\1", branch.strip())
                assert literal or branch.strip() in _CHECKED_TARGETS or branch.strip().endswith("(session)"), \
                    (script.name, target)


def test_a_form_post_to_a_page_changes_nothing_and_is_refused(shared_orgs):
    client = shared_orgs.app.test_client()
    assert client.post("/crm/contacts/new", data={"first_name": "X"}).status_code == 405


@pytest.mark.parametrize("content_type, data", [
    ("text/plain", '{"first_name": "Forged", "last_name": "Csrf"}'),
    ("application/x-www-form-urlencoded", "first_name=Forged&last_name=Csrf"),
    ("multipart/form-data; boundary=x", '--x\r\nContent-Disposition: form-data; name="first_name"\r\n\r\nForged\r\n--x--\r\n'),
])
def test_a_cross_site_form_riding_the_session_cookie_creates_nothing(shared_orgs, content_type, data):
    victim = shared_orgs.app.test_client()
    signed_in = victim.post("/api/auth/sign-in/email", json={"email": "member@acme.test", "password": PASSWORD})
    assert signed_in.status_code == 200
    before = count_rows(shared_orgs.db.admin_url, "contacts", shared_orgs.org("a"))
    attack = victim.post("/api/v1/contacts", data=data, headers={"Content-Type": content_type,
                                                                   "Origin": "https://evil.example"})
    assert attack.status_code in (400, 403, 415), attack.get_data(as_text=True)
    assert count_rows(shared_orgs.db.admin_url, "contacts", shared_orgs.org("a")) == before


def test_a_cross_site_form_cannot_invite_with_an_admins_cookie(shared_orgs):
    admin = shared_orgs.app.test_client()
    assert admin.post("/api/auth/sign-in/email", json={"email": "admin@acme.test", "password": PASSWORD}).status_code == 200
    before = count_rows(shared_orgs.db.admin_url, "invitations", shared_orgs.org("a"))
    attack = admin.post("/api/auth/organization/invite-member", data="email=evil@evil.example&role=admin",
                        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.example"})
    assert attack.status_code in (400, 403, 415)
    assert count_rows(shared_orgs.db.admin_url, "invitations", shared_orgs.org("a")) == before


def test_a_cross_site_script_gets_no_cors_permission_to_send_json(shared_orgs):
    client = shared_orgs.app.test_client()
    preflight = client.options("/api/v1/contacts", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    allowed = preflight.headers.get("Access-Control-Allow-Origin")
    assert allowed in (None, "")  # without it the browser never sends the JSON POST


def test_the_session_cookie_is_httponly_and_same_site_lax(shared_orgs):
    response = shared_orgs.app.test_client().post(
        "/api/auth/sign-in/email", json={"email": "member@acme.test", "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_an_agent_query_in_an_org_without_entities_names_the_fix(shared_orgs):
    member = shared_orgs.user("b", "member")  # the shared world seeds no semantic entities
    response = member.post("/api/v1/query", json={"sql": "SELECT count(*) FROM contacts"})
    assert response.status_code == 400 and error_code(response) == "sql_rejected"
    text = response.get_data(as_text=True)
    assert "semantic layer has no entities" in text and f"atlas init --org {shared_orgs.org('b')}" in text


@pytest.mark.parametrize("path", ["/no-such-page", "/crm/no-such-entity", "/crm/no-such-entity/new",
                                  "/admin/no-such-section", "/platform/nothing/here", "/a/b/c?x=1"])
def test_an_unknown_console_page_answers_the_consoles_404_page_not_json(shared_orgs, path):
    response = shared_orgs.app.test_client().get(path, headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == CSP and response.headers["X-Frame-Options"] == "DENY"
    page = response.get_data(as_text=True)
    assert "Page not found (404)" in page and 'href="/"' in page and "/static/console/console.css" in page
    assert path.split("?")[0] in page
    parser = _Inline()
    parser.feed(page)
    assert parser.problems == []


def test_the_404_page_escapes_the_path_it_names(shared_orgs):
    response = shared_orgs.app.test_client().get("/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


@pytest.mark.parametrize("path", ["/api/v1/no-such-endpoint", "/api/auth/no-such-endpoint", "/api/nothing",
                                  "/api/v1/contacts/x/y/z", "/static/console/js/no-such.js"])
def test_an_unknown_api_path_keeps_the_apis_json_404(shared_orgs, path):
    response = shared_orgs.app.test_client().get(path, headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert set(response.get_json()) >= {"code", "message"}


def test_the_console_roots_are_its_pages_first_segments_and_no_api_root(shared_orgs):
    from app.console import console_page_path, console_roots

    with shared_orgs.app.test_request_context("/"):
        roots = console_roots()
        assert {"crm", "admin", "ask", "sign-in", "platform"} <= set(roots)
        assert not {"api", "static", "healthz", "metrics", "readyz", ""} & set(roots)
        assert all(console_page_path(f"/{root}/x") for root in roots)
        assert not any(console_page_path(p) for p in ("/api/v1/x", "/healthz/x", "/metrics", "/static/x"))
