"""Dynamic client registration (RFC 7591) for public clients: the client id is the registration, signed.

An MCP client registers without an account, so a registration table would be a global table that anyone
on the internet may write to. Instead the client id carries the registration (name and redirect URIs) and
an HMAC of it under a key derived from ATLAS_CURSOR_SECRET: nothing is stored, and a client id this server
did not issue (or one altered to add a redirect URI) fails `verify`. Rotating that secret unregisters
every client: they register again on their next authorization.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from app.errors.oauth import InvalidClientError, InvalidClientMetadataError, InvalidRedirectUriError

SCOPE = "mcp"
MAX_REDIRECT_URIS = 10
MAX_URI_CHARS = 500
MAX_NAME_CHARS = 100
GRANT_TYPES = ("authorization_code", "refresh_token")
_LOOPBACK_NAMES = frozenset({"localhost"})


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    redirect_uris: tuple[str, ...]


def signing_key(secret: str, purpose: str) -> bytes:
    """A key for one purpose (`client-id`, `consent`), derived so no two purposes share one."""
    return hashlib.sha256(f"atlas-oauth|{purpose}|{secret}".encode()).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_redirect_uri(uri: object) -> str:
    """`uri` if it may receive codes: https, or http on a loopback host (OAuth 2.1 §8.4.2); no fragment."""
    if not isinstance(uri, str) or not uri or len(uri) > MAX_URI_CHARS:
        raise InvalidRedirectUriError(f"redirect_uris: each must be a URL of at most {MAX_URI_CHARS} characters")
    parts = urlsplit(uri)
    if parts.fragment or "#" in uri:
        raise InvalidRedirectUriError(f"redirect_uris: {uri!r} must not carry a fragment")
    host = parts.hostname or ""
    if not host or not (parts.scheme == "https" or (parts.scheme == "http" and _loopback(host))):
        raise InvalidRedirectUriError(f"redirect_uris: {uri!r} must be https, or http on localhost/127.0.0.1/[::1]")
    return uri


def register(metadata: Mapping[str, Any], *, key: bytes) -> dict[str, Any]:
    """The registration response for `metadata` (RFC 7591 §3.2.1), or the error naming the field to fix."""
    uris = metadata.get("redirect_uris")
    if not isinstance(uris, list) or not uris or len(uris) > MAX_REDIRECT_URIS:
        raise InvalidRedirectUriError(f"redirect_uris must be a list of 1 to {MAX_REDIRECT_URIS} URLs")
    redirect_uris = tuple(check_redirect_uri(uri) for uri in uris)
    name = metadata.get("client_name") or "MCP client"
    if not isinstance(name, str) or len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise InvalidClientMetadataError(f"client_name must be printable text of at most {MAX_NAME_CHARS} characters")
    grants = metadata.get("grant_types") or ["authorization_code"]
    if not isinstance(grants, list) or not set(grants) <= set(GRANT_TYPES) or "authorization_code" not in grants:
        raise InvalidClientMetadataError("grant_types may hold only authorization_code and refresh_token")
    if set(metadata.get("response_types") or ["code"]) != {"code"}:
        raise InvalidClientMetadataError("response_types must be [\"code\"]")
    scope = metadata.get("scope") or SCOPE
    if scope != SCOPE:
        raise InvalidClientMetadataError(f"scope must be {SCOPE!r} (the only scope offered)")
    issued_at = int(time.time())
    payload = _b64(json.dumps({"n": name, "r": list(redirect_uris), "t": issued_at,
                                "j": secrets.token_urlsafe(9)}, separators=(",", ":")).encode())
    client_id = f"{payload}.{_b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())}"
    # Public clients only: a secret would sit in every copy of a desktop or CLI client (OAuth 2.1 §2.1).
    return {"client_id": client_id, "client_id_issued_at": issued_at, "client_name": name,
            "redirect_uris": list(redirect_uris), "grant_types": list(GRANT_TYPES), "response_types": ["code"],
            "token_endpoint_auth_method": "none", "scope": SCOPE}


def verify(client_id: object, *, key: bytes) -> Client:
    """The client a client id names; InvalidClientError unless this server issued it, unaltered."""
    if not isinstance(client_id, str) or len(client_id) > 8000 or client_id.count(".") != 1:
        raise InvalidClientError("client_id is unknown: register the client first (POST /oauth/register)")
    payload, signature = client_id.split(".")
    expected = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(signature, expected):
        raise InvalidClientError("client_id is unknown: register the client again (POST /oauth/register)")
    data = json.loads(_unb64(payload))
    return Client(client_id=client_id, name=str(data["n"]), redirect_uris=tuple(data["r"]))
