"""A benchmark baseline, absent unless asked for: GET /api/bench/bare/contacts?org=<uuid>&limit=50.

scripts/bench_api.py compares `GET /api/v1/contacts?limit=50` through the whole
stack (session lookup, role check, org-scoped door, RLS) with this view in the
SAME server process: the same SQL (app.repository.list_rows, explicit
`org_id = %(org_id)s`) and the same JSON rendering, but no tenancy at all. No
session is read or checked (the client sends none; the view is public) and it
reads through a pool of its own on DATABASE_URL, the admin/superuser
connection, so no `SET LOCAL app.org_id` and no RLS policy applies. The
transaction shape (BEGIN READ ONLY, query, COMMIT, pipelined) matches the door's.

Its route exists only when the app is created with `bench_bare_endpoint`
truthy (`ATLAS_BENCH_BARE_ENDPOINT=1` for `atlas serve`): it serves any org's
contacts to anyone, so it must never be enabled outside a benchmark.
"""
from __future__ import annotations

import uuid

from flask import Blueprint, Flask, current_app, request
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from psycopg_pool import ConnectionPool

from app import repository
from app.api.crm import limit_arg
from app.db import Scope
from app.entities import ENTITIES
from app.errors import NotFoundError
from app.permissions import public
from app.serialize import rows_json

bp = Blueprint("bench_bare", __name__)
CONFIG_KEY = "BENCH_BARE_ENDPOINT"
RULE = "/api/bench/bare/contacts"
_POOL = "atlas_bench_bare_pool"


@bp.record_once
def _attach(state: BlueprintSetupState) -> None:
    """Add the route and its pool only when the app was created with the flag."""
    app: Flask = state.app
    if not app.config.get(CONFIG_KEY):
        return
    settings = app.config["ATLAS_SETTINGS"]
    pool = ConnectionPool(settings.database_url, min_size=settings.pool_min_size,
                          max_size=settings.pool_max_size, timeout=settings.pool_timeout_s,
                          kwargs={"autocommit": True}, name="atlas-bench-bare", open=False)
    pool.open(wait=False)
    app.extensions[_POOL] = pool
    app.add_url_rule(RULE, endpoint="bench_bare.contacts", view_func=bare_contacts, methods=["GET"])


@public
def bare_contacts() -> ResponseReturnValue:
    """One page of the named org's contacts: the list view's SQL and JSON, without tenancy."""
    try:
        org = uuid.UUID(request.args.get("org", ""))
    except ValueError:
        raise NotFoundError("org must be an organization id") from None
    limit = limit_arg(request.args.get("limit"))
    pool: ConnectionPool = current_app.extensions[_POOL]
    with pool.connection() as conn, conn.pipeline(), conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        page = repository.list_rows(Scope(conn, org), ENTITIES["contacts"], limit=limit)
    return {"data": rows_json(page.items), "nextCursor": page.next_cursor}
