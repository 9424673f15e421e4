"""GET /api/v1/admin/connections: the connection pools, as each kind of admin may see them.

Platform admins see every org's pools and the shared pools' totals; an org's
admins and owners see only their own org's numbers (app/pools/snapshot.py leaves
out everything another org's traffic moves). Members get 403.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, g

from app.permissions import either, is_platform_admin, platform_admin, roles
from app.state import services

bp = Blueprint("admin_pools", __name__, url_prefix="/api/v1/admin")


@bp.get("/connections")
@either(platform_admin(), roles("admin", "owner"),
        refusal="only an org's admins and owners, or platform admins, may see connection pools")
def connections() -> dict[str, Any]:
    """Platform admins need no active org; an org admin sees their org's numbers only."""
    ident, registry = g.identity, services().pools
    if is_platform_admin(ident):
        return {"scope": "platform", **registry.snapshot()}
    return {"scope": "organization", "org_id": str(ident.org_id), **registry.snapshot(ident.org_id)}
