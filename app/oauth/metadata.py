"""The two discovery documents, and the consent form's CSRF token.

The MCP client finds the protected resource's metadata (RFC 9728) from the 401 of `atlas mcp --http`,
reads `authorization_servers` there (the issuer: ATLAS_PUBLIC_URL, where `atlas serve` runs), then
this server's metadata at `<issuer>/.well-known/oauth-authorization-server` (RFC 8414).
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from app.oauth.clients import GRANT_TYPES, SCOPE

PRM_PATH = "/.well-known/oauth-protected-resource"
ASM_PATH = "/.well-known/oauth-authorization-server"
MCP_PATH = "/mcp"
CONSENT_FIELDS = ("client_id", "redirect_uri", "state", "code_challenge", "resource", "scope")


def authorization_server(issuer: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "registration_endpoint": f"{issuer}/oauth/register",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "scopes_supported": [SCOPE],
        "response_types_supported": ["code"],
        "grant_types_supported": list(GRANT_TYPES),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
    }


def protected_resource(*, resource: str, issuer: str) -> dict[str, Any]:
    return {"resource": resource, "authorization_servers": [issuer], "scopes_supported": [SCOPE],
            "bearer_methods_supported": ["header"], "resource_name": "Atlas MCP"}


def consent_token(key: bytes, *, session_hash: str, fields: Mapping[str, str]) -> str:
    """Binds the consent form to the session that saw it and to the exact request it shows."""
    message = "\n".join([session_hash, *(f"{name}={fields.get(name, '')}" for name in CONSENT_FIELDS)])
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def consent_token_valid(key: bytes, token: str, *, session_hash: str, fields: Mapping[str, str]) -> bool:
    return hmac.compare_digest(token, consent_token(key, session_hash=session_hash, fields=fields))
