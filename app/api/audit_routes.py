"""The org's audit trail for its admins and owners: GET /api/v1/admin/audit.

Filters: `actor` (user id), `action`, `entity`, `outcome` (exact), `since`
(inclusive) and `until` (exclusive) as ISO 8601 (a date or a date-time; no
offset means UTC). Newest first, keyset pages like the CRM lists (`limit`,
`cursor`), ordered as the (org_id, occurred_at DESC, id) index is. For an org in
a dedicated database, its entries there and its control-plane entries in the
shared database are merged into one trail.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, g
from flask.typing import ResponseReturnValue
from psycopg import sql

from app.api import get_cursors, get_db
from app.api.spec.schemas import page_of, ref
from app.bodies.queries import AuditFilter
from app.endpoint import endpoint
from app.http.hot_reads import placed_elsewhere
from app.paging import Keyset, Pager
from app.permissions import roles
from app.placement.router import control_plane
from app.serialize import rows_json

bp = Blueprint("audit", __name__, url_prefix="/api/v1/admin")

_COLUMNS = sql.SQL(", ").join(map(sql.Identifier, (
    "id", "occurred_at", "actor_user_id", "api_key_id", "action", "entity", "entity_id",
    "changed_fields", "outcome", "request_id", "detail",
)))
ORDER = Keyset("audit", "occurred_at", "datetime", descending=True)
_EXACT = {"action": "action", "entity": "entity", "outcome": "outcome"}


def _conditions(args: AuditFilter, params: dict[str, Any]) -> list[sql.Composable]:
    """WHERE terms for the query-string filters (unknown ones were refused by AuditFilter)."""
    where: list[sql.Composable] = [sql.SQL("org_id = %(org_id)s")]
    if args.actor:
        params["actor"] = args.actor
        where.append(sql.SQL("actor_user_id = %(actor)s"))
    for name, column in _EXACT.items():
        if getattr(args, name):
            params[name] = getattr(args, name)
            where.append(sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(name)))
    if args.since:
        params["since"] = args.since
        where.append(sql.SQL("occurred_at >= %(since)s"))
    if args.until:
        params["until"] = args.until
        where.append(sql.SQL("occurred_at < %(until)s"))
    return where


@bp.get("/audit")
@endpoint(roles("admin", "owner"), tag="audit", query=AuditFilter, response=page_of(ref("AuditEntry")))
def list_audit(args: AuditFilter) -> ResponseReturnValue:
    """The org's audit trail, newest first."""
    org_id = g.identity.org_id
    params: dict[str, Any] = {"org_id": org_id}
    where = _conditions(args, params)
    pager = Pager(ORDER, cursors=get_cursors(), org_id=org_id, limit=args.limit,
                  cursor=args.cursor or None)
    query = pager.select(columns=_COLUMNS, table=sql.Identifier("audit_log"), where=where, params=params)
    db = get_db()
    rows = db.read_all(org_id, query, params)
    if placed_elsewhere(db, org_id):
        # An org in a dedicated database (app/placement): its control-plane entries (members,
        # invitations, the org itself) are written in the shared one. Both pages, merged in order.
        with control_plane():
            rows = _merged(rows, db.read_all(org_id, query, params))
    page = pager.page(rows)
    return {"data": rows_json(page.items), "nextCursor": page.next_cursor}


def _merged(*pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pages of the same keyset query from two databases, as one in ORDER (sorts are stable).

    Between a move's `switched` and `cleaned` steps the copied entries are in both
    databases, with the same ids: each is listed once.
    """
    unique = {row["id"]: row for page in reversed(pages) for row in page}
    rows = sorted(unique.values(), key=lambda row: row["id"], reverse=ORDER.id_descending)
    return sorted(rows, key=lambda row: row[ORDER.column], reverse=ORDER.descending)
