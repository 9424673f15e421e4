"""Custom roles: Better Auth's dynamic access control endpoints (create, list, get, update, delete a role).

Who may: the `ac` cells of the matrix (members read, admins and owners manage);
nobody creates or edits a role holding a cell they lack (app/org_roles/store.py),
and a role assigned to a member cannot be deleted. The rows are control-plane
rows, read with every session (sql/144_custom_roles.sql), so an edit binds on
the next request of every worker.
"""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue

from app.api import session_scope
from app.api.members import as_uuid
from app.bodies import body
from app.bodies.org_roles import CreateRole, RoleKey, UpdateRole
from app.errors import BetterAuthError
from app.org_roles import store
from app.permissions import people_only, require
from app.placement.router import on_control_plane
from app.roles import ROLES

bp = Blueprint("org_roles", __name__, url_prefix="/api/auth/organization")


@bp.post("/create-role")
@on_control_plane
@require("ac", "create", refusal_code="YOU_ARE_NOT_ALLOWED_TO_CREATE_A_ROLE")
@people_only
def create_role() -> ResponseReturnValue:
    wanted = body(CreateRole)
    name, cells = store.role_name(wanted.role), store.checked_cells(wanted.permission)
    store.within_reach(g.identity, cells, code="YOU_ARE_NOT_ALLOWED_TO_CREATE_A_ROLE")
    with session_scope() as scope:
        row = store.create(scope, name=name, cells=cells)
    return {"success": True, "roleData": store.role_json(row), "statements": cells}


@bp.get("/list-roles")
@on_control_plane
@require("ac", "read", refusal_code="YOU_ARE_NOT_ALLOWED_TO_LIST_A_ROLE")
def list_roles() -> ResponseReturnValue:
    with session_scope(read_only=True) as scope:
        rows = store.list_roles(scope)
    return jsonify([store.role_json(row) for row in rows])


@bp.get("/get-role")
@on_control_plane
@require("ac", "read", refusal_code="YOU_ARE_NOT_ALLOWED_TO_READ_A_ROLE")
def get_role() -> ResponseReturnValue:
    name, role_id = request.args.get("roleName"), as_uuid(request.args.get("roleId"))
    if not name and role_id is None:
        raise BetterAuthError("ROLE_NOT_FOUND")
    with session_scope(read_only=True) as scope:
        row = store.find(scope, name=(name or "").lower() or None, role_id=role_id)
    return store.role_json(row)


@bp.post("/update-role")
@on_control_plane
@require("ac", "update", refusal_code="YOU_ARE_NOT_ALLOWED_TO_UPDATE_A_ROLE")
@people_only
def update_role() -> ResponseReturnValue:
    """New cells must all be the caller's, and so must the old ones: nobody edits a role above them."""
    wanted = body(UpdateRole)
    cells = None if wanted.data.permission is None else store.checked_cells(wanted.data.permission)
    name = None if wanted.data.roleName is None else store.role_name(wanted.data.roleName)
    with session_scope() as scope:
        current = store.find(scope, name=_lower(wanted.roleName), role_id=wanted.roleId, lock="update")
        store.within_reach(g.identity, current["permission"], code="YOU_ARE_NOT_ALLOWED_TO_UPDATE_A_ROLE")
        if cells is not None:
            store.within_reach(g.identity, cells, code="YOU_ARE_NOT_ALLOWED_TO_UPDATE_A_ROLE")
        row = store.update(scope, current, name=name, cells=cells)
    return {"success": True, "roleData": store.role_json(row)}


@bp.post("/delete-role")
@on_control_plane
@require("ac", "delete", refusal_code="YOU_ARE_NOT_ALLOWED_TO_DELETE_A_ROLE")
@people_only
def delete_role() -> ResponseReturnValue:
    """Refused while a member holds the role (ROLE_IS_ASSIGNED_TO_MEMBERS): reassign them first."""
    wanted = body(RoleKey)
    if _lower(wanted.roleName) in ROLES:
        raise BetterAuthError("CANNOT_DELETE_A_PRE_DEFINED_ROLE")
    with session_scope() as scope:
        current = store.find(scope, name=_lower(wanted.roleName), role_id=wanted.roleId, lock="update")
        store.within_reach(g.identity, current["permission"], code="YOU_ARE_NOT_ALLOWED_TO_DELETE_A_ROLE")
        store.delete(scope, current)
    return {"success": True}


def _lower(name: str | None) -> str | None:
    return None if name is None else name.strip().lower()
