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
from app.api.spec.schemas import STAMP, UUID, obj
from app.bodies.org_roles import CreateRole, RoleKey, UpdateRole
from app.endpoint import endpoint
from app.errors.better_auth import (
    NotAllowedToCreateRoleError,
    NotAllowedToDeleteRoleError,
    NotAllowedToListRolesError,
    NotAllowedToReadRoleError,
    NotAllowedToUpdateRoleError,
    PredefinedRoleError,
    RoleNotFoundError,
)
from app.org_roles import store
from app.permissions import permission
from app.roles import ROLES

bp = Blueprint("org_roles", __name__, url_prefix="/api/auth/organization")
CELLS = {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}
ROLE_DATA = obj(("id", "organizationId", "role", "permission"), id=UUID, organizationId=UUID,
                role={"type": "string"}, permission=CELLS, createdAt=STAMP, updatedAt=STAMP)
_SUCCESS = {"type": "boolean"}


@bp.post("/create-role")
@endpoint(permission("ac", "create", refused_with=NotAllowedToCreateRoleError), tag="roles", body=CreateRole,
          response=obj(("success", "roleData"), success=_SUCCESS, roleData=ROLE_DATA, statements=CELLS),
          control_plane=True, people_only=True)
def create_role(body: CreateRole) -> ResponseReturnValue:
    """Create a custom role from the matrix's cells, none above the caller's own; audited"""
    name, cells = store.role_name(body.role), store.checked_cells(body.permission)
    store.within_reach(g.identity, cells, refused_with=NotAllowedToCreateRoleError)
    with session_scope() as scope:
        row = store.create(scope, name=name, cells=cells)
    return {"success": True, "roleData": store.role_json(row), "statements": cells}


@bp.get("/list-roles")
@endpoint(permission("ac", "read", refused_with=NotAllowedToListRolesError), tag="roles",
          response={"type": "array", "items": ROLE_DATA}, control_plane=True)
def list_roles() -> ResponseReturnValue:
    """The session org's custom roles"""
    with session_scope(read_only=True) as scope:
        rows = store.list_roles(scope)
    return jsonify([store.role_json(row) for row in rows])


@bp.get("/get-role")
@endpoint(permission("ac", "read", refused_with=NotAllowedToReadRoleError), tag="roles", response=ROLE_DATA,
          control_plane=True)
def get_role() -> ResponseReturnValue:
    """One custom role, by `roleName` or `roleId` in the query"""
    name, role_id = request.args.get("roleName"), as_uuid(request.args.get("roleId"))
    if not name and role_id is None:
        raise RoleNotFoundError()
    with session_scope(read_only=True) as scope:
        row = store.find(scope, name=(name or "").lower() or None, role_id=role_id)
    return store.role_json(row)


@bp.post("/update-role")
@endpoint(permission("ac", "update", refused_with=NotAllowedToUpdateRoleError), tag="roles", body=UpdateRole,
          response=obj(("success", "roleData"), success=_SUCCESS, roleData=ROLE_DATA), control_plane=True,
          people_only=True)
def update_role(body: UpdateRole) -> ResponseReturnValue:
    """New cells must all be the caller's, and so must the old ones: nobody edits a role above them."""
    cells = None if body.data.permission is None else store.checked_cells(body.data.permission)
    name = None if body.data.roleName is None else store.role_name(body.data.roleName)
    with session_scope() as scope:
        current = store.find(scope, name=_lower(body.roleName), role_id=body.roleId, lock="update")
        store.within_reach(g.identity, current["permission"], refused_with=NotAllowedToUpdateRoleError)
        if cells is not None:
            store.within_reach(g.identity, cells, refused_with=NotAllowedToUpdateRoleError)
        row = store.update(scope, current, name=name, cells=cells)
    return {"success": True, "roleData": store.role_json(row)}


@bp.post("/delete-role")
@endpoint(permission("ac", "delete", refused_with=NotAllowedToDeleteRoleError), tag="roles", body=RoleKey,
          response=obj(("success",), success=_SUCCESS), control_plane=True, people_only=True)
def delete_role(body: RoleKey) -> ResponseReturnValue:
    """Refused while a member holds the role (ROLE_IS_ASSIGNED_TO_MEMBERS): reassign them first."""
    if _lower(body.roleName) in ROLES:
        raise PredefinedRoleError()
    with session_scope() as scope:
        current = store.find(scope, name=_lower(body.roleName), role_id=body.roleId, lock="update")
        store.within_reach(g.identity, current["permission"], refused_with=NotAllowedToDeleteRoleError)
        store.delete(scope, current)
    return {"success": True}


def _lower(name: str | None) -> str | None:
    return None if name is None else name.strip().lower()
