"""Bodies of Better Auth's dynamic access control endpoints (custom roles, app/org_roles)."""
from __future__ import annotations

import uuid
from typing import Annotated, Any

import pydantic

from app.bodies import Body
from app.bodies.fields import Id, Text
from app.bodies.requests import REQUIRED, OrgEcho

RoleName = Annotated[str, Text(max_len=63, null=REQUIRED)]
Cells = dict[str, list[str]]
MaybeId = Annotated[uuid.UUID, Id(message="must be an id (a UUID)", strings_only=False)] | None


class CreateRole(Body):
    role: RoleName
    permission: Cells
    organizationId: OrgEcho = None
    additionalFields: dict[str, Any] | None = None  # Better Auth's client may send it; Atlas keeps none


class RoleKey(Body):
    """A role by `roleName` or `roleId` (one of them)."""

    roleName: Annotated[str, Text(max_len=63)] | None = None
    roleId: MaybeId = None
    organizationId: OrgEcho = None

    @pydantic.model_validator(mode="after")
    def _one(self) -> RoleKey:
        if self.roleName is None and self.roleId is None:
            raise ValueError("roleName or roleId is required")
        return self


class RoleChanges(Body):
    permission: Cells | None = None
    roleName: Annotated[str, Text(max_len=63)] | None = None


class UpdateRole(RoleKey):
    data: RoleChanges
