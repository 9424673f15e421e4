"""One MCP tool call, start to finish: who is calling, may they, is every argument theirs, then the work.

Each call runs in a Flask app context of the MCP process's own app (built by
create_app, so the services, the door and the audit trail are the ones the
HTTP API uses), acting for the caller (app/acting.py: user, org, API key and a
request id), so every audit entry names the caller (and the API key) as the
HTTP API's do. Refusals and failures leave through the HTTP API's own error renderer
(app/http/errors.py): the tool error carries its JSON body, the same code and
message, never a traceback.
"""
from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent

from app.acting import Acting, acting_as
from app.auth import identity
from app.auth.identity import Identity
from app.errors import UnauthorizedError
from app.http import errors as api_errors
from app.http.context import services
from app.mcp.work import call_as
from app.oauth import grants
from app.oauth import identity as oauth_identity

log = logging.getLogger("atlas.mcp")

TokenOf = Callable[[Context], "str | None"]
RESOURCE = "atlas_mcp_resource"  # app.extensions key: this server's OAuth resource URL (app/mcp/http.py)


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, value = (header or "").partition(" ")
    token = value.strip()
    return token if scheme.lower() == "bearer" and token and len(token) <= 200 and token.isascii() else None


def token_from_headers(ctx: Context) -> str | None:
    """Streamable HTTP: the bearer token of the request that carried this call."""
    headers = ctx.headers or {}
    return bearer(headers.get("authorization") or headers.get("Authorization"))


def authenticate(app: Flask, token: str | None) -> Identity:
    """The token's identity, read afresh (nothing is cached); UnauthorizedError if there is none.

    An OAuth access token (app/oauth/) counts only for the resource this server is (`RESOURCE`)."""
    if token is not None and grants.is_access_token(token):
        ident = oauth_identity.from_oauth_token(services(app).db, token, resource=app.extensions.get(RESOURCE))
    else:
        ident = identity.resolve(services(app).db, token)
    if ident is None:
        raise UnauthorizedError("no valid token: it is missing, malformed, expired or revoked "
                                "(pass a session token, an API key or an OAuth access token)")
    return ident


def run_tool(app: Flask, ctx: Context, *, tool: str, token_of: TokenOf,
             arguments: Mapping[str, Any]) -> CallToolResult:
    """Authenticate, then admit, guard and work (app/mcp/work.py); a refusal as a tool error."""
    request_id = f"mcp-{uuid.uuid4().hex}"
    with app.app_context(), acting_as(Acting(request_id=request_id)):
        try:
            ident = authenticate(app, token_of(ctx))
        except Exception as exc:  # every failure becomes the HTTP API's error body, never a traceback
            return _error(exc)
        with acting_as(Acting(user_id=ident.user_id, org_id=ident.org_id, api_key_id=ident.api_key_id,
                              request_id=request_id)):
            try:
                return _answer(call_as(app, ident, tool, arguments, raw=_raw_arguments(ctx)))
            except Exception as exc:
                return _error(exc)


def _raw_arguments(ctx: Context) -> Mapping[str, Any]:
    """The arguments as sent, before the tool's schema dropped the ones it does not know."""
    params = ctx.request_context.params or {}
    arguments = params.get("arguments") if isinstance(params, Mapping) else None
    return arguments if isinstance(arguments, Mapping) else {}


def _answer(body: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(body))], structured_content=body)


def error_answer(exc: BaseException) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, JSON body and headers the HTTP API answers `exc` with (app/http/errors.py `answer`)."""
    return api_errors.answer(exc)


def _error(exc: Exception) -> CallToolResult:
    status, body, _headers = error_answer(exc)
    log.info("tool call refused (%s): %s", status, body["code"])
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(body))], structured_content=body,
                          is_error=True)
