"""The org's custom roles: validation of their cells, the creator's bound, and their rows.

A custom role's cells come from the matrix in app/permissions.py (resources and
actions it declares); nobody can create, edit or assign a role holding a cell
they do not hold themselves. A role assigned to a member cannot be deleted
(Better Auth's ROLE_IS_ASSIGNED_TO_MEMBERS): reassign the members first. Every
change is audited in the org's trail.
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from app import audit
from app.db import Row, Scope
from app.errors.better_auth import (
    BetterAuthForbiddenError,
    InvalidResourceError,
    InvalidRoleNameError,
    RoleInUseError,
    RoleNameTakenError,
    RoleNotFoundError,
    TooManyRolesError,
)
from app.instants import iso_ms
from app.permissions import ACTIONS, PERMISSIONS, allows
from app.roles import ROLES

NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
MAX_ROLES_PER_ORG = 100  # Better Auth's default is unbounded per call; a cap keeps one org's matrix small
_COLUMNS = sql.SQL(", ").join(map(sql.Identifier, ("id", "org_id", "name", "permission", "created_at", "updated_at")))
_LOCKS = {"": sql.SQL(""), "share": sql.SQL(" FOR SHARE"), "update": sql.SQL(" FOR UPDATE")}
Cells = dict[str, list[str]]


def role_json(row: Row) -> dict[str, Any]:
    """A role as Better Auth's organizationRole."""
    return {"id": str(row["id"]), "organizationId": str(row["org_id"]), "role": row["name"],
            "permission": row["permission"], "createdAt": iso_ms(row["created_at"]),
            "updatedAt": iso_ms(row["updated_at"])}


def role_name(value: str) -> str:
    """Better Auth lowercases role names; a built-in name or a malformed one is refused."""
    name = value.strip().lower()
    if name in ROLES:
        raise RoleNameTakenError()
    if not NAME.match(name):
        raise InvalidRoleNameError(
            "role must start with a letter and hold only a-z, 0-9, '-' and '_' (at most 63 characters)")
    return name


def checked_cells(permission: Mapping[str, list[str]]) -> Cells:
    """The cells as stored (sorted, no repeats); INVALID_RESOURCE for a resource or action the matrix lacks."""
    cells: Cells = {}
    for resource, actions in permission.items():
        if resource not in PERMISSIONS or any(action not in ACTIONS for action in actions):
            raise InvalidResourceError()
        if actions:
            cells[resource] = sorted(set(actions))
    return cells


def missing_cells(ident: Any, cells: Mapping[str, list[str]] | Mapping[str, frozenset[str]]) -> list[str]:
    """The `resource:action` cells of `cells` that `ident` does not hold itself."""
    return [f"{resource}:{action}" for resource, actions in cells.items() for action in sorted(actions)
            if not allows(ident, resource, action)]


def within_reach(ident: Any, cells: Mapping[str, Any], *, refused_with: type[BetterAuthForbiddenError]) -> None:
    """403 `refused_with` unless `ident` holds every cell: nobody grants above their own permissions."""
    missing = missing_cells(ident, cells)
    if missing:
        raise refused_with(f"{refused_with().args[0]}: your role lacks {', '.join(missing)}, so a role you create,"
                           " edit or assign may not hold it")


def built_in_cells(role: str) -> dict[str, frozenset[str]]:
    """A built-in role's cells, as a custom role's are stored."""
    return {resource: cells[role] for resource, cells in PERMISSIONS.items() if cells.get(role)}


def list_roles(scope: Scope) -> list[Row]:
    return scope.fetch_all(sql.SQL("SELECT {} FROM org_roles WHERE org_id = %s ORDER BY name").format(_COLUMNS),
                           (scope.org_id,))


def find(scope: Scope, *, name: str | None = None, role_id: uuid.UUID | None = None,
         lock: str = "") -> Row:
    """The role by name or id (ROLE_NOT_FOUND otherwise); `lock` is '', 'share' or 'update'."""
    row = scope.fetch_one(
        sql.SQL("SELECT {} FROM org_roles WHERE org_id = %(org)s AND (name = %(name)s OR id = %(id)s){}").format(
            _COLUMNS, _LOCKS[lock]),
        {"org": scope.org_id, "name": name, "id": role_id})
    if row is None:
        raise RoleNotFoundError()
    return row


def cells_of_role(scope: Scope, role: str, *, lock: bool = False) -> Mapping[str, Any]:
    """A built-in role's cells from the matrix, a custom role's from its row (locked FOR SHARE when asked,
    so it cannot be deleted before the assignment commits); ROLE_NOT_FOUND for an unknown name."""
    if role in ROLES:
        return built_in_cells(role)
    return find(scope, name=role, lock="share" if lock else "")["permission"]


def create(scope: Scope, *, name: str, cells: Cells) -> Row:
    count = scope.fetch_value("SELECT count(*) FROM org_roles WHERE org_id = %s", (scope.org_id,))
    if count is not None and int(count) >= MAX_ROLES_PER_ORG:
        raise TooManyRolesError()
    if scope.fetch_value("SELECT 1 FROM org_roles WHERE org_id = %s AND name = %s", (scope.org_id, name)):
        raise RoleNameTakenError()
    row = scope.fetch_one(
        sql.SQL("INSERT INTO org_roles (org_id, name, permission) VALUES (%s, %s, %s) RETURNING {}").format(
            _COLUMNS),
        (scope.org_id, name, Jsonb(cells)))
    assert row is not None
    audit.record(scope, action="role.create", entity="org_role", entity_id=row["id"],
                 changed_fields=("name", "permission"), detail={"role": name, "permission": cells})
    return row


def update(scope: Scope, current: Row, *, name: str | None, cells: Cells | None) -> Row:
    """Rename (the members holding it follow) and/or replace the cells of a locked role row."""
    if name is not None and name != current["name"] and scope.fetch_value(
            "SELECT 1 FROM org_roles WHERE org_id = %s AND name = %s", (scope.org_id, name)):
        raise RoleNameTakenError()
    new_name = name or current["name"]
    row = scope.fetch_one(
        sql.SQL("UPDATE org_roles SET name = %s, permission = %s, updated_at = now()"
                " WHERE org_id = %s AND id = %s RETURNING {}").format(_COLUMNS),
        (new_name, Jsonb(cells if cells is not None else current["permission"]), scope.org_id, current["id"]))
    assert row is not None
    if new_name != current["name"]:
        scope.execute("UPDATE members SET role = %s WHERE org_id = %s AND role = %s",
                      (new_name, scope.org_id, current["name"]))
    changed = [field for field, value in (("name", name), ("permission", cells)) if value is not None]
    audit.record(scope, action="role.update", entity="org_role", entity_id=row["id"], changed_fields=changed,
                 detail={"role": new_name, "from": {"role": current["name"], "permission": current["permission"]},
                         "permission": row["permission"]})
    return row


def delete(scope: Scope, current: Row) -> None:
    """Delete a locked role row; refused while a member holds it (reassign them first)."""
    if scope.fetch_value("SELECT 1 FROM members WHERE org_id = %s AND role = %s LIMIT 1",
                         (scope.org_id, current["name"])):
        raise RoleInUseError()
    scope.execute("DELETE FROM org_roles WHERE org_id = %s AND id = %s", (scope.org_id, current["id"]))
    audit.record(scope, action="role.delete", entity="org_role", entity_id=current["id"],
                 detail={"role": current["name"], "permission": current["permission"]})
