"""The custom role endpoints (Better Auth's dynamic access control; app/api/role_routes.py)."""
from __future__ import annotations

from app.bodies import org_roles as o
from app.openapi.op import Op
from app.openapi.schemas import STAMP, UUID, obj

CELLS = {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}
ROLE_DATA = obj(("id", "organizationId", "role", "permission"), id=UUID, organizationId=UUID,
                role={"type": "string"}, permission=CELLS, createdAt=STAMP, updatedAt=STAMP)
_SUCCESS = {"type": "boolean"}

ROLE_OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", "/api/auth/organization/create-role"): Op(
        "Create a custom role from the matrix's cells, none above the caller's own; audited", "ac:create",
        "roles", o.CreateRole, obj(("success", "roleData"), success=_SUCCESS, roleData=ROLE_DATA, statements=CELLS)),
    ("GET", "/api/auth/organization/list-roles"): Op(
        "The session org's custom roles", "ac:read", "roles", response={"type": "array", "items": ROLE_DATA}),
    ("GET", "/api/auth/organization/get-role"): Op(
        "One custom role by roleName or roleId", "ac:read", "roles",
        query=(("roleName", {"type": "string"}), ("roleId", UUID)), response=ROLE_DATA),
    ("POST", "/api/auth/organization/update-role"): Op(
        "Rename a custom role or replace its cells (none above the caller's own); binds at once; audited",
        "ac:update", "roles", o.UpdateRole, obj(("success", "roleData"), success=_SUCCESS, roleData=ROLE_DATA)),
    ("POST", "/api/auth/organization/delete-role"): Op(
        "Delete a custom role no member holds (else ROLE_IS_ASSIGNED_TO_MEMBERS); audited", "ac:delete", "roles",
        o.RoleKey, obj(("success",), success=_SUCCESS)),
}
