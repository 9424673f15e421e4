"""An authorization request (`GET`/`POST /oauth/authorize`), checked in the order OAuth 2.1 §4.1.2.1 asks.

A bad client_id or a redirect_uri the client did not register is shown to the person, never redirected
to (that would make this server an open redirector); every other fault goes back to the client's
redirect_uri as `error=...&state=...`.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from app.errors.oauth import InvalidRedirectUriError, InvalidScopeError, InvalidTargetError, OAuthError
from app.oauth.clients import SCOPE, Client, verify
from app.oauth.metadata import MCP_PATH

_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # base64url of a SHA-256, unpadded


@dataclass(frozen=True)
class AuthRequest:
    client: Client
    redirect_uri: str
    state: str
    code_challenge: str
    resource: str
    scope: str

    def fields(self) -> dict[str, str]:
        """The request as the consent form carries it (and its CSRF token signs it)."""
        return {"client_id": self.client.client_id, "redirect_uri": self.redirect_uri, "state": self.state,
                "code_challenge": self.code_challenge, "resource": self.resource, "scope": self.scope}


@dataclass(frozen=True)
class Refusal:
    """An OAuthError to send back to the client's redirect_uri."""

    error: OAuthError
    redirect_uri: str
    state: str

    def location(self) -> str:
        return back_to(self.redirect_uri, {"error": self.error.code, "error_description": self.error.message,
                                           "state": self.state})


def back_to(redirect_uri: str, params: Mapping[str, str]) -> str:
    sep = "&" if urlsplit(redirect_uri).query else "?"
    return f"{redirect_uri}{sep}{urlencode({k: v for k, v in params.items() if v})}"


def expected_resource(mcp_url: str, asked: str) -> str:
    """The resource a code may be issued for: ATLAS_OAUTH_MCP_URL's, else any http(s) URL ending in /mcp."""
    if mcp_url:
        wanted = f"{mcp_url}{MCP_PATH}"
        if asked and asked.rstrip("/") != wanted:
            raise InvalidTargetError(f"resource must be {wanted} (ATLAS_OAUTH_MCP_URL)")
        return wanted
    parts = urlsplit(asked)
    if parts.scheme not in ("http", "https") or not parts.hostname or not parts.path.rstrip("/").endswith(MCP_PATH) \
            or parts.query or parts.fragment:
        raise InvalidTargetError("resource must be the MCP endpoint's URL (https://host/mcp); "
                                 "set ATLAS_OAUTH_MCP_URL to name it")
    return asked.rstrip("/")


def check(params: Mapping[str, str], *, key: bytes, mcp_url: str) -> AuthRequest | Refusal:
    """The request, or the Refusal to send to the client; OAuthError (to show the person) before a
    redirect_uri is trusted."""
    client = verify(params.get("client_id"), key=key)
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in client.redirect_uris:
        raise InvalidRedirectUriError("redirect_uri is not one the client registered")
    state = params.get("state", "")
    try:
        if params.get("response_type") != "code":
            raise OAuthError("response_type must be code")
        challenge = params.get("code_challenge", "")
        if params.get("code_challenge_method") != "S256" or not _CHALLENGE.match(challenge):
            raise OAuthError("PKCE is required: code_challenge (43 base64url characters) with "
                             "code_challenge_method=S256")
        scope = params.get("scope") or SCOPE
        if scope != SCOPE:
            raise InvalidScopeError(f"scope must be {SCOPE!r}")
        resource = expected_resource(mcp_url, params.get("resource", ""))
    except OAuthError as exc:
        return Refusal(exc, redirect_uri, state)
    return AuthRequest(client=client, redirect_uri=redirect_uri, state=state, code_challenge=challenge,
                       resource=resource, scope=scope)
