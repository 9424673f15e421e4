"""The org's audit trail for its admins and owners: GET /api/v1/admin/audit.

Filters: `actor` (user id), `action`, `entity`, `outcome` (exact), `since`
(inclusive) and `until` (exclusive) as ISO 8601 (a date or a date-time; no
offset means UTC). Newest first, keyset pages like the CRM lists (`limit`,
`cursor`), ordered as the (org_id, occurred_at DESC, id) index is. For an org in
a dedicated database, its entries there and its control-plane entries in the
shared database are merged into one trail.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, g, request
from flask.typing import ResponseReturnValue
from psycopg import sql

from app.api import get_cursors, get_db
from app.errors import ValidationError
from app.hot_reads import placed_elsewhere
from app.paging import Keyset, Pager, limit_arg
from app.permissions import roles_required
from app.placement.router import control_plane
from app.serialize import rows_json
from app.validation import parse_uuid

bp = Blueprint("audit", __name__, url_prefix="/api/v1/admin")

_COLUMNS = sql.SQL(", ").join(map(sql.Identifier, (
    "id", "occurred_at", "actor_user_id", "api_key_id", "action", "entity", "entity_id",
    "changed_fields", "outcome", "request_id", "detail",
)))
ORDER = Keyset("audit", "occurred_at", "datetime", descending=True)
_EXACT = {"action": "action", "entity": "entity", "outcome": "outcome"}
_KNOWN = frozenset({"actor", "since", "until", "limit", "cursor", *_EXACT})


def _bad(name: str, message: str) -> ValidationError:
    return ValidationError(f"{name} {message}", details={"fields": {name: message}})


def _instant(name: str, raw: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _bad(name, "must be an ISO 8601 date or date-time") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _conditions(args: Any, params: dict[str, Any]) -> list[sql.Composable]:
    """WHERE terms for the query-string filters; unknown parameters are refused, not ignored."""
    unknown = sorted(set(args) - _KNOWN)
    if unknown:
        raise _bad(unknown[0], f"is not a filter; filters: {', '.join(sorted(_KNOWN))}")
    where: list[sql.Composable] = [sql.SQL("org_id = %(org_id)s")]
    if args.get("actor"):
        try:
            params["actor"] = parse_uuid(args["actor"])
        except ValueError as exc:
            raise _bad("actor", str(exc)) from None
        where.append(sql.SQL("actor_user_id = %(actor)s"))
    for name, column in _EXACT.items():
        if args.get(name):
            params[name] = args[name]
            where.append(sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(name)))
    if args.get("since"):
        params["since"] = _instant("since", args["since"])
        where.append(sql.SQL("occurred_at >= %(since)s"))
    if args.get("until"):
        params["until"] = _instant("until", args["until"])
        where.append(sql.SQL("occurred_at < %(until)s"))
    return where


@bp.get("/audit")
@roles_required("admin", "owner")
def list_audit() -> ResponseReturnValue:
    """One keyset page of the session org's entries, newest first."""
    org_id = g.identity.org_id
    params: dict[str, Any] = {"org_id": org_id}
    where = _conditions(request.args, params)
    pager = Pager(ORDER, cursors=get_cursors(), org_id=org_id, limit=limit_arg(request.args.get("limit")),
                  cursor=request.args.get("cursor") or None)
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
