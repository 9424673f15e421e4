"""Who is asking, resolved once per request into `g.identity`.

The session token names the user and the session's one org; the user's role
comes from their membership in that org, read afresh (a removed member keeps
a session but loses the org). Lookups are cached in-process for a few
seconds, keyed by token hash, so a request does not pay a database round trip
for its session; every change this process makes to a session, a role or a
membership invalidates the affected entries at once, and the TTL bounds how
long another process may lag.
"""
from __future__ import annotations

import datetime as dt
import re
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, TypeVar

from flask import Flask, current_app, g, request

from app import auth
from app.db import Database

DEFAULT_CACHE_TTL_S = 5.0
DEFAULT_CACHE_SIZE = 10_000
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True)
class Identity:
    """The signed-in user, their session and the session's org (None if not a member)."""

    user_id: uuid.UUID
    org_id: uuid.UUID | None
    role: str | None
    platform_role: str
    session_id: uuid.UUID
    email: str
    name: str
    expires_at: dt.datetime
    token_hash: str
    session_created_at: dt.datetime
    user: dict


class IdentityCache:
    """token hash -> Identity, bounded in size and age; thread-safe."""

    def __init__(self, *, ttl_s: float = DEFAULT_CACHE_TTL_S, max_entries: int = DEFAULT_CACHE_SIZE) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, Identity]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token_hash: str) -> Identity | None:
        if self.ttl_s <= 0:
            return None
        with self._lock:
            hit = self._entries.get(token_hash)
            if hit is None:
                return None
            deadline, ident = hit
            if time.monotonic() >= deadline:
                del self._entries[token_hash]
                return None
            return ident

    def put(self, ident: Identity) -> None:
        if self.ttl_s <= 0:
            return
        # Never outlive the session itself.
        left_s = (ident.expires_at - dt.datetime.now(dt.timezone.utc)).total_seconds()
        deadline = time.monotonic() + min(self.ttl_s, left_s)
        with self._lock:
            self._entries[ident.token_hash] = (deadline, ident)
            self._entries.move_to_end(ident.token_hash)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget_token(self, token_hash: str) -> None:
        with self._lock:
            self._entries.pop(token_hash, None)

    def forget(self, *, user_id: object = None, org_id: object = None) -> None:
        """Drop entries of a user (in an org, if given), or of a whole org."""
        with self._lock:
            for key, (_, ident) in list(self._entries.items()):
                if user_id is not None and str(ident.user_id) != str(user_id):
                    continue
                if org_id is not None and str(ident.org_id) != str(org_id):
                    continue
                del self._entries[key]


def lookup(db: Database, token_hash: str) -> Identity | None:
    """Read the live session for a token hash and its user's membership, or None."""
    with db.identity_transaction(session_token_hash=token_hash) as scope:
        session = scope.fetch_one(
            "SELECT id, user_id, active_org_id, expires_at, created_at FROM sessions"
            " WHERE token_hash = %s AND revoked_at IS NULL AND expires_at > now()",
            (token_hash,),
        )
    if session is None:
        return None
    user_sql = (
        "SELECT u.id, u.email, u.name, u.platform_role, u.email_verified, u.created_at,"
        " u.updated_at, m.role FROM users u"
        " LEFT JOIN members m ON m.user_id = u.id AND m.org_id = %(org)s"
        " WHERE u.id = %(user)s"
    )
    params = {"org": session["active_org_id"], "user": session["user_id"]}
    if session["active_org_id"] is not None:
        with db.transaction(session["active_org_id"], user_id=session["user_id"], read_only=True) as scope:
            user = scope.fetch_one(user_sql, params)
    else:
        with db.identity_transaction(user_id=session["user_id"]) as scope:
            user = scope.fetch_one(user_sql, params)
    if user is None:
        return None
    role = user["role"]
    return Identity(
        user_id=user["id"],
        org_id=session["active_org_id"] if role is not None else None,
        role=role,
        platform_role=user["platform_role"],
        session_id=session["id"],
        email=user["email"],
        name=user["name"],
        expires_at=session["expires_at"],
        token_hash=token_hash,
        session_created_at=session["created_at"],
        user=auth.user_json(user),
    )


def resolve(db: Database, cache: IdentityCache, token: str | None) -> Identity | None:
    if token is None:
        return None
    token_hash = auth.hash_token(token)
    ident = cache.get(token_hash)
    if ident is None:
        ident = lookup(db, token_hash)
        if ident is not None:
            cache.put(ident)
    return ident


def cache() -> IdentityCache:
    """This app's identity cache (call from request or app context)."""
    return current_app.extensions["atlas"].identity_cache


def sessionless(view: F) -> F:
    """Mark a view that never reads a session: no lookup, so probes and scrapes never touch the database."""
    view.atlas_sessionless = True  # type: ignore[attr-defined]
    return view


def _before_request() -> None:
    supplied = request.headers.get("X-Request-Id", "")
    g.request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
    if getattr(current_app.view_functions.get(request.endpoint or ""), "atlas_sessionless", False):
        g.identity = None
        return
    state = current_app.extensions["atlas"]
    g.identity = resolve(state.db, state.identity_cache, auth.token_from_request(request))


def _after_request(response):  # type: ignore[no-untyped-def]
    response.headers["X-Request-Id"] = getattr(g, "request_id", "")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    app.before_request(_before_request)
    app.after_request(_after_request)
