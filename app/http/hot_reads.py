"""Hot reads: the request's session and the view's data in one round trip and one snapshot.

A view declared `one_trip` (app/endpoint.py) is not given a session before it runs
(app/http/identity.py leaves it pending and app/http/access.py's hook skips it).
It builds its statements, written against the transaction's own org
(`org_id = (SELECT app.current_org())`, see ORG), and calls `read`, which
sends, in one round trip (app/db/wire.py):

    BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY
    SELECT * FROM app.resolve_session($1)     -- the session, checked ...
    <the view's statements>                   -- ... in the snapshot its data is read in
    COMMIT

then sets `g.identity` from the first result and enforces the view's declared
access with app/request_access.check, exactly as the before_request hook would
have: a revoked or expired session, or a user no longer in the org, leaves
app.org_id unset (RLS admits no row) and is refused from the first result, so
revocation binds as before, now even within the transaction that reads the data.

Its wrapper fails closed: whatever the view does, if it returns or raises
without having enforced its access, the session is resolved and the access
checked then (a 401 still comes before a 400 for a bad argument).

With per-org pools (pool.perOrg) a session cannot share a connection with
its org's data, so `read` resolves first and reads through the org's pool
(two round trips), like a view that needs its identity first (`identity_first`).
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import psycopg
from flask import current_app, g, request
from psycopg import sql

from app import auth, permissions
from app.auth import api_keys, identity
from app.db import Database, Params, Result
from app.errors.access import AccessUndeclaredError
from app.http import access as request_access
from app.http.context import services
from app.http.identity import identify

F = TypeVar("F", bound=Callable[..., Any])
ORG = sql.SQL("org_id = (SELECT app.current_org())")  # the explicit org predicate of a hot read
# The org a fused write writes in: the session's, unless the org's rows live in a dedicated database
# (app/placement; the session lives here, in the shared one). Then NULL: the write fails, writes nothing,
# and `write` hands it back to be written through the org's own database.
SESSION_ORG = sql.SQL("(SELECT s.org FROM (SELECT app.current_org() AS org) s WHERE NOT EXISTS"
                      " (SELECT 1 FROM org_placements p WHERE p.organization_id = s.org))")


def wrap(view: F) -> F:
    """The view, failing closed: its access is enforced after it ran if `read` or `write` did not (app/http/endpoint_runtime.py)."""
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            response = view(*args, **kwargs)
        except BaseException:
            identity_first()
            raise
        identity_first()
        return response

    return wrapper  # type: ignore[return-value]  # same signature as the view


def read(statements: Sequence[tuple[sql.Composable | str, Params]]) -> list[Result]:
    """The session and `statements` in one round trip, then the view's access enforced; their results."""
    db = services().db
    token = auth.token_from_request(request)
    if (token is None or api_keys.is_api_key(token) or not g.get("identity_pending")
            or not fuses_session_reads(db)):
        ident = identity_first()  # an API key resolves through its own statement (app/auth/api_keys.py)
        return db.read_many(ident.org_id, statements)
    token_hash = auth.hash_token(token)
    g.identity_pending = False  # resolved here or not at all: a failure below (a 503) is not retried
    row, results = db.session_read(token_hash, statements)
    _enforce(identity.from_row(row, token_hash))
    if placed_elsewhere(db, g.identity.org_id):
        # The session lives in the shared database, an org with a dedicated one keeps its rows
        # there (app/placement): what the fused read saw here is not the org's data.
        return db.read_many(g.identity.org_id, statements)
    return results


def write(query: str, params: Mapping[str, Any]) -> Result | None:
    """The session and one write in one round trip and transaction, then the view's access enforced.

    The write takes its org and writer from the session (app.current_org(), app.current_user_id()),
    so a dead session or a user no longer in the org writes nothing: the statement fails and the
    refusal is answered from a fresh read of the session. Returns the write's result, or None when
    the request cannot be fused (an API key, per-org pools, no pending session; or the org's rows
    live in another database): its identity is then resolved and enforced, and the caller writes
    the usual way.
    """
    db = services().db
    token = auth.token_from_request(request)
    if (token is None or api_keys.is_api_key(token) or not g.get("identity_pending")
            or not fuses_session_reads(db) or db.joined()):
        identity_first()
        return None
    token_hash = auth.hash_token(token)
    g.identity_pending = False
    try:
        row, result = db.session_write(token_hash, query, params)
    except psycopg.Error as exc:
        # Refused as before the fusion: from the session, read afresh (this path is the rare one).
        _enforce(identity.resolve(db, token))
        if exc.sqlstate == "AT503" or placed_elsewhere(db, g.identity.org_id):  # app/placement
            return None  # the org is moving (its usual write answers 503) or lives in a dedicated database
        raise
    _enforce(identity.from_row(row, token_hash))
    return result


def placed_elsewhere(db: Database, org_id: object) -> bool:
    """The org's rows live in a dedicated database (the placement's lookup is cached per org)."""
    location = getattr(db.source, "location", None)
    return org_id is not None and location is not None and location(org_id) is not None


def fuses_session_reads(db: Database) -> bool:
    """A session and its org's data may share a base-pool connection: not with per-org pools (pool.perOrg)."""
    source = getattr(db.source, "shared", db.source)  # through app/placement's PlacedSource to the pools
    return getattr(source, "limits", None) is None


def identity_first() -> Any:
    """Resolve the session (one round trip) and enforce the view's access, unless done; the identity."""
    if g.pop("identity_pending", False):
        _enforce(identity.resolve(services().db, auth.token_from_request(request)))
    return g.identity


def _enforce(ident: identity.Identity | None) -> None:
    g.pop("identity_pending", None)
    identify(ident)
    view = current_app.view_functions.get(request.endpoint or "")
    access = permissions.access_of(view)
    if access is None:  # declared on every view (tests/test_permissions.py); fail closed regardless
        raise AccessUndeclaredError(f"endpoint {request.endpoint} declares no access rule")
    request_access.check(access)
