"""Who is asking, resolved once per request into `g.identity` (app/auth/identity.py resolves it).

A request id is taken from X-Request-Id when it is well formed, else minted,
and echoed on the response. Session-less views (probes, the console's pages)
look nothing up; the one-trip views (app/http/hot_reads.py) read the session with
their data, so the hook leaves `g.identity_pending` for them.
"""
from __future__ import annotations

import re
import uuid

from flask import Flask, Response, current_app, g, request

from app import auth
from app.acting import NOBODY, Acting, act
from app.auth.identity import Identity, resolve
from app.endpoint import Endpoint, endpoint_of
from app.http.context import services

UNDECLARED = Endpoint()  # app/permissions.py refuses such a view; its session is read as usual
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def _before_request() -> None:
    supplied = request.headers.get("X-Request-Id", "")
    g.request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
    identify(None)
    view = current_app.view_functions.get(request.endpoint or "")
    declared = endpoint_of(view) or UNDECLARED
    if view is None or declared.sessionless:
        # No route matched (the 404/405 answer needs no one), or a probe: no database work.
        return
    if declared.one_trip and (
            request.method in ("GET", "HEAD")
            or (request.method == "POST" and declared.one_trip_write
                and "Idempotency-Key" not in request.headers)):
        # the view reads the session with its data or write (app/http/hot_reads.py); OPTIONS never runs it
        g.identity_pending = True
        return
    identify(resolve(services().db, auth.token_from_request(request)))


def identify(ident: Identity | None) -> None:
    """`ident` is who this request acts for: `g.identity` for the views, app/acting.py for the audit trail."""
    g.identity = ident
    request_id = g.get("request_id")
    act(Acting(request_id=request_id) if ident is None else
        Acting(user_id=ident.user_id, org_id=ident.org_id, api_key_id=ident.api_key_id, request_id=request_id))


def _after_request(response: Response) -> Response:
    response.headers["X-Request-Id"] = getattr(g, "request_id", "")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _finished(_exc: BaseException | None) -> None:
    act(NOBODY)  # work after the request (a test's, a thread's next task) acts for nobody


def init_app(app: Flask) -> None:
    app.before_request(_before_request)
    app.after_request(_after_request)
    app.teardown_request(_finished)
