"""POST /api/v1/admin/cache/flush: drop cached agent query results.

Two audiences, declared on the view (app/permissions.py `by_field`): the
session org's admins and owners flush that org (`{"scope": "organization"}`,
the default); platform admins flush every org (`{"scope": "all"}`), inside a
platform transaction that re-checks their role in SQL and is audited in
platform_audit.
"""
from __future__ import annotations

from flask import Blueprint, g
from flask.typing import ResponseReturnValue
from psycopg.types.json import Jsonb

from app import audit
from app.api import session_scope
from app.api.spec.schemas import obj
from app.bodies.requests import FlushCache
from app.cache import QueryCache
from app.endpoint import endpoint
from app.http.body import json_body
from app.http.context import services
from app.permissions import chosen_by, platform_admin, roles

bp = Blueprint("cache", __name__, url_prefix="/api/v1")


@bp.post("/admin/cache/flush")
@endpoint(chosen_by("scope", default="organization", choices={
    "organization": roles("admin", "owner", refusal="only admin or owner may flush the organization's query cache"),
    "all": platform_admin(refusal="only platform administrators may flush every organization's cache"),
}),
          tag="query", body=FlushCache, reads_body=True,  # the scope as sent, which chose the access above
          response=obj(("scope", "flushed"), scope={"type": "string"}, flushed={"type": "integer"}))
def flush_cache() -> ResponseReturnValue:
    """Flush cached query results: the session org's (admins, owners) or every org's (platform admins)

    `{"scope": "organization"}` (default; org admins and owners) or `{"scope": "all"}` (platform admins).
    """
    cache = services().cache
    if json_body().get("scope", "organization") == "all":
        return {"scope": "all", "flushed": _flush_all_audited(cache)}
    ident = g.identity
    flushed = cache.flush_org(str(ident.org_id)) if cache is not None else 0
    with session_scope() as tx:
        audit.record(tx, action="query_cache.flush", entity="query_cache", detail={"flushed": flushed})
    return {"scope": "organization", "flushed": flushed}


def _flush_all_audited(cache: QueryCache | None) -> int:
    """Flush inside a platform transaction: it re-checks in SQL that the caller is a platform admin."""
    with services().platform_db.platform_transaction(user_id=g.identity.user_id) as tx:
        flushed = cache.flush_all() if cache is not None else 0
        tx.execute(
            "INSERT INTO platform_audit (actor_user_id, action, target_org_id, request_id, detail)"
            " VALUES (app.current_user_id(), 'query_cache.flush_all', NULL, %s, %s)",
            (g.get("request_id"), Jsonb({"flushed": flushed})),
        )
    return flushed
