"""A benchmark baseline, absent unless asked for: GET /api/bench/bare/contacts?org=<uuid>&limit=50.

scripts/bench_api.py compares `GET /api/v1/contacts?limit=50` through the whole
stack (session lookup, role check, org-scoped door, RLS) with this view in the
SAME server process: the same SQL (app.crm.repository.list_statement, with an explicit
`org_id = %(org_id)s` where the API's says `(SELECT app.current_org())`) and the
same JSON rendering (app.serialize.page_json), but no tenancy at all. No
session is read or checked (the client sends none; the view is public) and it
reads through a pool of its own on DATABASE_URL, the admin/superuser
connection, so no `SET LOCAL app.org_id` and no RLS policy applies. The
transaction shape (BEGIN READ ONLY, prepared query, COMMIT, one round trip through
app/db/wire.py) matches the API's.

It serves any org's contacts to anyone, so it lives here, outside the
application package: no setting or environment variable can switch it on in a
real server. scripts/bench_api.py runs granian (app/serving.py) on `create_bench_app()`, the
production app plus this one route.
"""
from __future__ import annotations

import uuid

from flask import Flask, current_app, request
from flask.typing import ResponseReturnValue
from psycopg import sql
from psycopg_pool import ConnectionPool

from app import create_app
from app.api import get_cursors
from app.bodies.queries import Page
from app.bodies.query import validated_query
from app.crm import repository
from app.db import wire
from app.endpoint import endpoint
from app.entities import ENTITIES
from app.errors import NotFoundError
from app.http.context import services
from app.http.responses import json_response
from app.paging import Pager
from app.permissions import PUBLIC
from app.serialize import page_json

RULE = "/api/bench/bare/contacts"
_POOL = "atlas_bench_bare_pool"


def create_bench_app() -> Flask:
    """The production app (settings from the environment) with the bare route added."""
    app = create_app()
    register(app)
    return app


def register(app: Flask) -> None:
    """Add the bare route and its own pool (closed by `close(app)`)."""
    settings = services(app).settings
    pool = ConnectionPool(settings.database.url, min_size=settings.pool.min_size,
                          max_size=settings.pool.max_size, timeout=settings.pool.timeout_s,
                          kwargs={"autocommit": True}, name="atlas-bench-bare", open=False)
    pool.open(wait=False)
    app.extensions[_POOL] = pool
    app.add_url_rule(RULE, endpoint="bench_bare.contacts", view_func=bare_contacts, methods=["GET"])


def close(app: Flask) -> None:
    pool = app.extensions.pop(_POOL, None)
    if pool is not None:
        pool.close()


@endpoint(PUBLIC)
def bare_contacts() -> ResponseReturnValue:
    """One page of the named org's contacts: the list view's SQL and JSON, without tenancy."""
    try:
        org = uuid.UUID(request.args.get("org", ""))
    except ValueError:
        raise NotFoundError("org must be an organization id") from None
    entity = ENTITIES["contacts"]
    pager = Pager(repository.keyset(entity), cursors=get_cursors(), org_id=org,
                  limit=validated_query(Page, request.args).limit)
    params: dict[str, object] = {"org_id": org}
    query = repository.list_statement(entity, pager, None, params, org=sql.SQL("org_id = %(org_id)s"))
    pool: ConnectionPool = current_app.extensions[_POOL]
    with pool.connection() as conn:
        names, rows = wire.plain_rows(conn, query, params)
    rows, next_cursor = pager.cut(names, rows)
    return json_response(page_json(names, rows, next_cursor=next_cursor))
