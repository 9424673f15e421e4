"""GET /api/v1/admin/connections: the connection pools, as each kind of admin may see them.

Platform admins see every org's pools and the shared pools' totals; an org's
admins and owners see only their own org's numbers (app/pools/snapshot.py leaves
out everything another org's traffic moves). Members get 403.
"""
from __future__ import annotations

from flask import Blueprint, current_app, g
from flask.blueprints import BlueprintSetupState

from app.errors import ForbiddenError
from app.permissions import login_required
from app.pools import extension

bp = Blueprint("admin_pools", __name__, url_prefix="/api/v1/admin")
ORG_ADMIN_ROLES = ("admin", "owner")


@bp.record_once
def _create_registry(state: BlueprintSetupState) -> None:
    extension.init_app(state.app)


@bp.get("/connections")
@login_required  # platform admins need no active org; the view decides between the two views
def connections() -> dict:
    ident = g.identity
    registry = extension.registry_of(current_app)
    if ident.platform_role == "admin":
        return {"scope": "platform", **registry.snapshot()}
    if ident.org_id is not None and ident.role in ORG_ADMIN_ROLES:
        return {"scope": "organization", "org_id": str(ident.org_id), **registry.snapshot(ident.org_id)}
    raise ForbiddenError("only an org's admins and owners, or platform admins, may see connection pools")
