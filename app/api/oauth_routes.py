"""The OAuth authorization server for remote MCP clients (app/oauth/, docs/mcp-oauth.md).

Metadata, registration, token and revocation speak OAuth's own shapes (RFC 8414, 7591, 6749, 7009):
a refusal is `{"error", "error_description"}`, rendered here from app/errors/oauth.py's OAuthError classes.
None of them reads a session (`sessionless`): a client authenticates by what it presents (the code and
its PKCE verifier, the refresh token). The consent page is app/console/oauth_consent.py; a person's own
grants are listed and revoked under /api/v1/oauth/grants with their session.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from flask.typing import ResponseReturnValue

from app.api import session_scope
from app.api.spec.schemas import obj
from app.crm.writes import parse_uuid
from app.endpoint import endpoint
from app.errors import NotFoundError
from app.errors.oauth import OAuthError, UnsupportedGrantTypeError
from app.http.context import services
from app.oauth import clients, grants
from app.oauth.authorization import expected_resource
from app.oauth.metadata import ASM_PATH, authorization_server
from app.permissions import PUBLIC, roles
from app.roles import ROLES
from app.serialize import value_json

bp = Blueprint("oauth", __name__)
_OPEN = {"type": "object"}
ANY_MEMBER = roles(*ROLES)  # every member, for their own grants (the console shows the page to each role)


def client_key() -> bytes:
    return clients.signing_key(services().settings.http.cursor_secret, "client-id")


def issuer() -> str:
    return services().settings.http.public_url.rstrip("/")


def lifetimes() -> grants.Lifetimes:
    oauth = services().settings.oauth
    return grants.Lifetimes(code_s=oauth.code_ttl_s, access_s=oauth.access_ttl_s, refresh_s=oauth.refresh_ttl_s)


@bp.errorhandler(OAuthError)
def _oauth_error(exc: OAuthError) -> ResponseReturnValue:
    response = jsonify({"error": exc.code, "error_description": exc.message})
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_client"'
    return _public(response)


def _public(response: Response) -> Response:
    """Browser-based MCP clients read these from another origin: no cookie is ever involved."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get(ASM_PATH)
@endpoint(PUBLIC, tag="oauth", response=_OPEN, sessionless=True, documented=False)
def server_metadata() -> ResponseReturnValue:
    """OAuth authorization server metadata (RFC 8414) for MCP clients"""
    return _public(jsonify(authorization_server(issuer())))


@bp.post("/oauth/register")
@endpoint(PUBLIC, tag="oauth", response=_OPEN, status=201, sessionless=True, documented=False)
def register() -> ResponseReturnValue:
    """Dynamic client registration (RFC 7591): public clients, redirect URIs https or loopback http"""
    metadata = request.get_json(silent=True)
    if not isinstance(metadata, dict):
        raise OAuthError("the body must be a JSON object of client metadata (RFC 7591)")
    response = jsonify(clients.register(metadata, key=client_key()))
    response.status_code = 201
    return _public(response)


def _form(name: str, *, required: bool = True) -> str:
    value = request.form.get(name, "")
    if required and not value:
        raise OAuthError(f"{name} is required")
    return value


@bp.post("/oauth/token")
@endpoint(PUBLIC, tag="oauth", response=_OPEN, sessionless=True, documented=False)
def token() -> ResponseReturnValue:
    """Token endpoint: authorization_code with PKCE S256, refresh_token with rotation"""
    grant_type = _form("grant_type")
    client = clients.verify(_form("client_id"), key=client_key())
    resource = request.form.get("resource") or None
    if resource is not None:
        resource = expected_resource(services().settings.oauth.mcp_url, resource)
    db = services().db
    if grant_type == "authorization_code":
        answer = grants.exchange_code(db, code=_form("code"), client_id=client.client_id,
                                      redirect_uri=_form("redirect_uri"), verifier=_form("code_verifier"),
                                      resource=resource, lifetimes=lifetimes())
    elif grant_type == "refresh_token":
        answer = grants.refresh(db, refresh_token=_form("refresh_token"), client_id=client.client_id,
                                resource=resource, lifetimes=lifetimes())
    else:
        raise UnsupportedGrantTypeError("grant_type must be authorization_code or refresh_token")
    return _public(jsonify(answer))


@bp.post("/oauth/revoke")
@endpoint(PUBLIC, tag="oauth", response=_OPEN, sessionless=True, documented=False)
def revoke() -> ResponseReturnValue:
    """Token revocation (RFC 7009): the access or refresh token and its pair stop at once"""
    grants.revoke(services().db, _form("token"))
    return _public(jsonify({}))


def grant_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(row["id"]), "clientName": row["client_name"], "scope": row["scope"],
            "resource": row["resource"], "createdAt": value_json(row["created_at"]),
            "refreshExpiresAt": value_json(row["refresh_expires_at"])}


@bp.get("/api/v1/oauth/grants")
@endpoint(ANY_MEMBER, tag="oauth", response=obj(("data",), data={"type": "array", "items": _OPEN}), people_only=True)
def list_grants() -> ResponseReturnValue:
    """The MCP clients the signed-in person authorized in this organization (live tokens)"""
    with session_scope(read_only=True) as tx:
        return {"data": [grant_json(row) for row in grants.list_own(tx, user_id=g.identity.user_id)]}


@bp.delete("/api/v1/oauth/grants/<grant_id>")
@endpoint(ANY_MEMBER, tag="oauth", response=obj(("id",), id={"type": "string"}), people_only=True)
def revoke_grant(grant_id: str) -> ResponseReturnValue:
    """Revoke one of the signed-in person's MCP client grants; its next MCP call is refused"""
    try:
        token_id = parse_uuid(grant_id)
    except ValueError:
        raise NotFoundError("no such grant of yours in this organization") from None
    with session_scope() as tx:
        if not grants.revoke_own(tx, token_id, user_id=g.identity.user_id):
            raise NotFoundError("no such grant of yours in this organization")
    return {"id": str(token_id)}
