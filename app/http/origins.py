"""Trusted origins and CORS, as Better Auth has them.

A request authenticated by the session cookie with an unsafe method (POST,
PUT, PATCH, DELETE) must come from a trusted origin: its `Origin` (or, without
one, its `Referer`) must be one of TRUSTED_ORIGINS (default: PUBLIC_URL) or
the request's own host (a same-origin page, such as the console at `/`).
Otherwise it is refused with Better Auth's 403 INVALID_ORIGIN (or
MISSING_OR_NULL_ORIGIN). `SameSite=Lax` alone would let a sibling subdomain or
an old browser post with the cookie. Bearer-authenticated requests carry their
credential explicitly and are exempt, as are requests without the cookie, except
sign-in and sign-up from a browser (fetch metadata, Origin or Referer present):
their origin must be trusted too, and a cross-site navigation is refused
(CROSS_SITE_NAVIGATION_LOGIN_BLOCKED), as Better Auth guards against login CSRF.

CORS answers the trusted origins only: credentials allowed and `set-auth-token`
exposed, so a web app on another origin reads the token of a sign-in or org
switch. Preflights are answered here, before any session lookup.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Flask, Response, request

from app.auth import COOKIE_NAME
from app.errors.access import OriginRefusedError
from app.http.context import services
from app.origin_list import origin_of

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SIGN_IN_PATHS = frozenset({"/api/auth/sign-in/email", "/api/auth/sign-up/email"})
ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-Id"
EXPOSED_HEADERS = "set-auth-token, Retry-After, X-Request-Id, Idempotent-Replayed"
PREFLIGHT_MAX_AGE_S = 600


# A path on this origin, as Better Auth admits one (trusted-origins.ts): no second slash or backslash
# (or their percent-encodings) after the first: browsers read a backslash there as "//evil.example".
_RELATIVE = re.compile(r"/(?!/|\\|%2f|%5c)[\w\-.+/@]*(?:\?[\w\-.+/=&%@]*)?", re.IGNORECASE | re.ASCII)


def is_trusted(url: str) -> bool:
    """A URL on a trusted origin, or a plain path on this one (callbackURL, redirectTo): never an open redirect."""
    if url.startswith("/"):
        return _RELATIVE.fullmatch(url) is not None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or url != url.strip():
        return False
    return origin_of(url) in services().trusted_origins


def _same_host(origin: str) -> bool:
    return urlsplit(origin).netloc.lower() == (request.host or "").lower()


def _cookie_authenticated() -> bool:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return bool(request.cookies.get(COOKIE_NAME)) and not (scheme.lower() == "bearer" and value.strip())


def _from_a_browser() -> bool:
    """Fetch metadata, an Origin or a Referer: what browsers send (and Node's fetch: Sec-Fetch-Mode)."""
    return any(request.headers.get(name, "").strip()
               for name in ("Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest", "Origin", "Referer"))


def _check_sign_in() -> None:
    """Sign-in and sign-up as Better Auth guards them: no cross-site navigation, and a browser's origin trusted."""
    if request.headers.get("Sec-Fetch-Site") == "cross-site" and request.headers.get("Sec-Fetch-Mode") == "navigate":
        raise OriginRefusedError(missing=False, code="cross_site_navigation_login_blocked")
    if _from_a_browser():
        _require_trusted_origin()


def _check_origin() -> None:
    if request.method == "POST" and request.path in SIGN_IN_PATHS and not _cookie_authenticated():
        _check_sign_in()
        return
    if request.method not in UNSAFE or not _cookie_authenticated():
        return
    _require_trusted_origin()


def _require_trusted_origin() -> None:
    raw = request.headers.get("Origin") or request.headers.get("Referer") or ""
    origin = origin_of(raw) if raw and raw != "null" else None
    if origin is None:
        raise OriginRefusedError(missing=True)
    if origin not in services().trusted_origins and not _same_host(origin):
        raise OriginRefusedError(missing=False)


def _cors_origin() -> str | None:
    origin = request.headers.get("Origin", "")
    return origin if origin_of(origin) in services().trusted_origins else None


def _before_request() -> Response | None:
    if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
        response = Response(status=204)
        if _cors_origin() is not None:
            response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_S)
        return response  # after_request adds the origin headers
    _check_origin()
    return None


def _after_request(response: Response) -> Response:
    origin = _cors_origin()
    response.vary.add("Origin")
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    return response


def init_app(app: Flask) -> None:
    """Register before request_identity.init_app: preflights and refused origins never look a session up."""
    app.before_request(_before_request)
    app.after_request(_after_request)
