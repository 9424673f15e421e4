"""The consent page of the OAuth flow for MCP clients: `GET`/`POST /oauth/authorize`.

A person signed in to Atlas (the console's session cookie) sees which client asks, where the code
will be sent, the organization the grant is bound to (the session's, and no other) and the scope,
then approves or denies with a form post. Unlike the console's pages this one reads the session and
accepts a form post, so it defends itself: a CSRF token binding the form to the session and to the
exact request it shows (HMAC under a key derived from ATLAS_CURSOR_SECRET), the trusted-origin check
every cookie-authenticated POST passes (app/http/origins.py), `SameSite=Lax` cookies, no inline script or
style, `frame-ancestors 'none'` against clickjacking, and `form-action` allowing only this origin and
the client's redirect origin (browsers apply it to the redirect that follows the post).
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, g, make_response, redirect, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from app import audit
from app.api.oauth_routes import client_key
from app.endpoint import endpoint
from app.errors.oauth import OAuthError
from app.http.context import services
from app.oauth import authorization, clients, grants
from app.oauth.metadata import consent_token, consent_token_valid
from app.permissions import PUBLIC

bp = Blueprint("oauth_consent", __name__, template_folder="templates")
_HTML = {"type": "string"}


def _consent_key() -> bytes:
    return clients.signing_key(services().settings.http.cursor_secret, "consent")


def _page(status: int, *, form_origin: str = "", **context: Any) -> Response:
    response = make_response(render_template("oauth_consent.html", **context), status)
    response.headers["Content-Security-Policy"] = "; ".join((
        "default-src 'none'", "style-src 'self'", "img-src 'self' data:", f"form-action 'self' {form_origin}".strip(),
        "frame-ancestors 'none'", "base-uri 'none'"))
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"  # "no-referrer" makes browsers post Origin: null, refused
    return response


def _problem(status: int, message: str) -> Response:
    return _page(status, title="Cannot authorize this client", problem=message)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@bp.get("/oauth/authorize")
@endpoint(PUBLIC, tag="oauth", response=_HTML, media_type="text/html", documented=False)
def authorize() -> ResponseReturnValue:
    """The consent page: which client, which organization, which scope (needs a signed-in session)"""
    return _answer(request.args.to_dict(), decision=None)


@bp.post("/oauth/authorize")
@endpoint(PUBLIC, tag="oauth", response=_HTML, media_type="text/html", status=302, documented=False)
def decide() -> ResponseReturnValue:
    """Approve or deny the consent page's request; redirects to the client with a code or an error"""
    form = request.form.to_dict()
    return _answer({**form, "response_type": "code", "code_challenge_method": "S256"},
                   decision=form.get("decision", ""), csrf=form.get("csrf", ""))


def _answer(params: dict[str, str], *, decision: str | None, csrf: str = "") -> ResponseReturnValue:
    settings = services().settings
    try:
        checked = authorization.check(params, key=client_key(), mcp_url=settings.oauth.mcp_url)
    except OAuthError as exc:  # no trusted redirect_uri yet: tell the person, redirect nowhere
        return _problem(400, exc.message)
    if isinstance(checked, authorization.Refusal):
        return redirect(checked.location(), 302)
    ident = g.get("identity")
    if ident is None:
        return _page(401, title="Sign in to Atlas first", sign_in=True)
    if ident.api_key_id is not None:
        return _problem(403, "an API key cannot grant access: sign in as a person")
    if ident.org_id is None:
        return _problem(403, "choose an organization in the console first: the grant is bound to it")
    fields = checked.fields()
    if decision is None:
        with services().db.transaction(ident.org_id, user_id=ident.user_id, read_only=True) as tx:
            org_name = tx.fetch_value("SELECT name FROM organizations WHERE id = %s", (ident.org_id,))
        return _page(200, form_origin=_origin(checked.redirect_uri), title="Authorize an MCP client",
                     client=checked.client, redirect_origin=_origin(checked.redirect_uri), org_name=org_name,
                     role=ident.role, email=ident.email, scope=checked.scope, fields=fields,
                     csrf=consent_token(_consent_key(), session_hash=ident.token_hash, fields=fields))
    if not consent_token_valid(_consent_key(), csrf, session_hash=ident.token_hash, fields=fields):
        return _problem(403, "this consent form was not issued to your session: open the client's link again")
    if decision != "approve":
        with services().db.transaction(ident.org_id, user_id=ident.user_id) as tx:
            audit.record(tx, action="oauth.consent_denied", entity="oauth_code",
                         detail={"client": checked.client.name, "redirect_uri": checked.redirect_uri})
        return redirect(authorization.back_to(checked.redirect_uri, {
            "error": "access_denied", "error_description": "the user denied the request", "state": checked.state}))
    code = grants.issue_code(services().db, org_id=ident.org_id, user_id=ident.user_id, client=checked.client,
                             redirect_uri=checked.redirect_uri, code_challenge=checked.code_challenge,
                             resource=checked.resource, scope=checked.scope, ttl_s=settings.oauth.code_ttl_s)
    return redirect(authorization.back_to(checked.redirect_uri, {"code": code, "state": checked.state}), 302)
