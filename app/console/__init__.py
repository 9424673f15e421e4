"""The web console at `/`: server-rendered page shells, a stylesheet and a little JavaScript.

The console has no back door: its pages are static shells (they read no
session and no data), and the JavaScript in static/ does everything through
the same JSON API and the same session cookie as every other client
(`/api/auth/*`, `/api/v1/*`). What a page shell knows comes from
declarations (the CRM entities of app/entities.py, the role matrix of
app/permissions.py), never from the database.

Security, in one place:
- CSRF: no console page accepts a form post. Every change is a `fetch` with a
  JSON body (`Content-Type: application/json`), which a cross-site form cannot
  send and a cross-site script cannot send without a CORS preflight that the
  API does not grant; the session cookie is `SameSite=Lax`, so cross-site
  POSTs carry no session at all; and browsers send `Origin` with every
  same-origin fetch POST, which the API's trusted-origin check compares with
  ATLAS_PUBLIC_URL. A form whose script failed posts to its own shell, which
  answers 405: nothing is changed.
- Content-Security-Policy without 'unsafe-inline': scripts and styles load
  from this origin only; templates hold no inline script, handler or style.
- Output is escaped: Jinja autoescapes the shells, and the scripts write data
  with `textContent` (never `innerHTML`).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, make_response, redirect, render_template, request, send_from_directory
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from app.console.pages import ADMIN_LINKS, ANALYTICS_LINKS, JOB_FORMS, crm_view, entity_links
from app.endpoint import endpoint
from app.entities import ENTITIES
from app.http import errors as api_errors
from app.http import metrics as request_metrics
from app.jobs.kinds import PUBLIC_KINDS
from app.permissions import ACTIONS, PERMISSIONS, PUBLIC
from app.roles import ROLES

STATIC = Path(__file__).parent / "static"

CSP = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "font-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
))

bp = Blueprint("console", __name__, template_folder="templates")


def _page(template: str, *, page: str, title: str, **context: Any) -> str:
    """A shell: the layout, the page's name for static/console/main.js, and the matrix for the nav."""
    matrix = {resource: {role: sorted(actions) for role, actions in cells.items()}
              for resource, cells in PERMISSIONS.items()}
    return render_template(template, page=page, title=title, matrix=matrix, entities=entity_links(),
                           admin_links=ADMIN_LINKS, analytics_links=ANALYTICS_LINKS, console_roots=console_roots(),
                           **context)


def _root(rule: str) -> str:
    return rule.split("/")[1]


def _roots(*, console: bool) -> frozenset[str]:
    """First path segments of the console's rules or of everyone else's, read from the URL map once per
    app (an unknown API path is the cheapest request there is: it should stay cheap)."""
    key = "atlas_console_roots" if console else "atlas_other_roots"
    if key not in current_app.extensions:
        current_app.extensions[key] = frozenset(
            _root(rule.rule) for rule in current_app.url_map.iter_rules()
            if rule.endpoint.startswith("console.") == console)
    return frozenset(current_app.extensions[key])


def console_roots() -> list[str]:
    """The first path segments of the console's pages, from the URL map: the only places `next` may send
    a browser after sign-in (static/js/auth.js)."""
    return sorted(_roots(console=True) - {"", "static"})


def console_page_path(path: str) -> bool:
    """A path in the console's space: anything but the API's and the operations' roots (from the URL map)
    and the console's own static assets. Machines get JSON there, people get pages everywhere else."""
    root = _root(path) if path.startswith("/") else ""
    return root != "static" and root not in _roots(console=False)


@bp.app_errorhandler(NotFound)
def not_found(exc: NotFound) -> ResponseReturnValue:
    """An unknown page (or a page shell's unknown entity or section) answers the console's 404 page;
    an unknown path of the API keeps the API's JSON error."""
    if not console_page_path(request.path):
        return api_errors.handle(exc)
    request_metrics.refused("not_found")  # counted like the API's 404s: a refusal by its code
    body = _page("not_found.html", page="not-found", title="Page not found", path=request.path)
    return _headers(make_response(body, 404))


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.get("/")
@endpoint(PUBLIC, sessionless=True)
def home() -> ResponseReturnValue:
    return redirect("/crm/contacts", code=302)


@bp.get("/static/console/<path:filename>")
@endpoint(PUBLIC, sessionless=True)
def asset(filename: str) -> ResponseReturnValue:
    response = send_from_directory(STATIC, filename, max_age=300)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# The shells that only render a template: (rule, endpoint, template, page, title). The rule's variables
# (an invitation's, a job's, an org's id) go to the template as they are, for the page's script; one a
# rule lacks renders empty (platform.html without an org id is the list, auth.html without an invitation
# is the sign-in form).
SHELLS: tuple[tuple[str, str, str, str, str], ...] = (
    ("/sign-in", "sign_in", "auth.html", "sign-in", "Sign in"),
    ("/sign-up", "sign_up", "auth.html", "sign-up", "Create an account"),
    # the link Atlas logs for an invitation: sign in or sign up, then accept
    ("/accept-invitation/<invitation_id>", "accept_invitation", "auth.html", "accept-invitation",
     "Accept an invitation"),
    ("/ask", "ask", "ask.html", "ask", "Ask"),
    ("/no-organization", "no_organization", "no_org.html", "no-org", "No organization"),
    ("/mcp-clients", "mcp_clients", "mcp_clients.html", "mcp-clients", "MCP clients"),
    ("/jobs/<job_id>", "job", "job.html", "job", "Job"),
    ("/platform/organizations", "platform_organizations", "platform.html", "platform-orgs", "All organizations"),
    ("/platform/organizations/<org_id>", "platform_organization", "platform.html", "platform-org", "Organization"),
)


def _shell(template: str, page: str, title: str) -> Callable[..., ResponseReturnValue]:
    @endpoint(PUBLIC, sessionless=True)
    def shell(**variables: str) -> ResponseReturnValue:
        return _page(template, page=page, title=title, **variables)
    return shell


for _rule, _name, _template, _page_name, _title in SHELLS:
    bp.add_url_rule(_rule, _name, _shell(_template, _page_name, _title), methods=["GET"])


@bp.get("/crm/<entity>")
@endpoint(PUBLIC, sessionless=True)
def crm_list(entity: str) -> ResponseReturnValue:
    view = _entity(entity)
    return _page("crm_list.html", page="crm-list", title=view["title"], view=view)


@bp.get("/crm/<entity>/new")
@endpoint(PUBLIC, sessionless=True)
def crm_new(entity: str) -> ResponseReturnValue:
    view = _entity(entity)
    return _page("crm_form.html", page="crm-new", title=f"New {view['singular']}", view=view, row_id="")


@bp.get("/crm/<entity>/<row_id>")
@endpoint(PUBLIC, sessionless=True)
def crm_detail(entity: str, row_id: str) -> ResponseReturnValue:
    view = _entity(entity)
    return _page("crm_form.html", page="crm-detail", title=view["singular"].capitalize(), view=view,
                 row_id=row_id)


@bp.get("/admin/<section>")
@endpoint(PUBLIC, sessionless=True)
def admin(section: str) -> ResponseReturnValue:
    link = next((link for link in ADMIN_LINKS if link["path"] == f"/admin/{section}"), None)
    if link is None:
        abort(404)
    return _page(f"admin_{section.replace('-', '_')}.html", page=f"admin-{section}", title=link["label"],
                 roles=ROLES, cells={resource: list(ACTIONS) for resource in PERMISSIONS})


@bp.get("/jobs")
@endpoint(PUBLIC, sessionless=True)
def jobs() -> ResponseReturnValue:
    return _page("jobs.html", page="jobs", title="Jobs", kinds=[(k, JOB_FORMS[k]) for k in PUBLIC_KINDS])


def _entity(name: str) -> dict[str, Any]:
    if name not in ENTITIES:
        abort(404)
    return crm_view(ENTITIES[name])
