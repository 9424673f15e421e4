"""GET /api/v1/admin/connections: the org's connections and the connection pools, as each caller may see them.

Every member of an org reads its connections (`connection` read; app/connections
never returns a password). Pool statistics are for an org's admins and owners
(their own org's numbers only: app/pools/snapshot.py leaves out everything
another org's traffic moves, and includes the pools of the org's own
connections as datasources named `connection:<id>`, and under `dedicated` this
process's pools on the org's dedicated database, if it has one) and for platform
admins (every org's pools, the shared pools' totals, and every dedicated
database's pools with its location).
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, g

from app.api.spec.schemas import CONNECTION, UUID, obj
from app.endpoint import endpoint
from app.http.context import services
from app.permissions import any_of, can, is_platform_admin, may_see_pool_figures, permission, platform_admin

bp = Blueprint("admin_pools", __name__, url_prefix="/api/v1/admin")


@bp.get("/connections")
@endpoint(any_of(platform_admin(), permission("connection", "read"),
        refusal="only an org's members, or platform admins, may see connections"),
          tag="admin",
          response=obj(("scope",), scope={"type": "string", "enum": ["platform", "organization"]}, org_id=UUID,
                     connections={"type": "array", "items": CONNECTION},
                     dedicated={"type": "array", "items": {"type": "object"},
                                "description": "this process's pools on dedicated databases"}))
def connections() -> dict[str, Any]:
    """The session org's connections (every member; never a password) and connection pools: every org's for
    platform admins, the session org's for its admins and owners.

    Platform admins need no active org; an org admin sees their org's numbers only; members no numbers.
    """
    ident, state = g.identity, services()
    body: dict[str, Any]
    if is_platform_admin(ident):
        body = {"scope": "platform", **state.pools.snapshot(), "dedicated": state.placement.pool_rows()}
    elif may_see_pool_figures(ident.role):
        body = {"scope": "organization", "org_id": str(ident.org_id), **state.pools.snapshot(ident.org_id),
                "dedicated": state.placement.pool_rows(ident.org_id)}
    else:
        body = {"scope": "organization", "org_id": str(ident.org_id)}
    if ident.org_id is not None and can(ident.role, "connection", "read"):
        body["connections"] = state.connections.list(ident.org_id)
    return body
