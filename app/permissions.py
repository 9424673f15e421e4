"""Who may do what: the role matrix as data, access declarations, one enforcement point.

Views only *declare* their access (`@public`, `@login_required`,
`@member_required`, `@require(resource, action)`, `@roles_required(...)`,
`@platform_admin_required`); a single before_request hook enforces the
declaration of the matched endpoint. A view that declares nothing is refused
(fail closed), and a test walks the URL map to keep every endpoint declared.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from flask import Flask, current_app, g, request

from app import org_guard
from app.errors import (
    AccessUndeclaredError,
    ForbiddenError,
    NoActiveOrganizationError,
    UnauthorizedError,
)

F = TypeVar("F", bound=Callable[..., object])

ROLES = ("member", "admin", "owner")
ACTIONS = ("create", "read", "update", "delete")
_CRUD = frozenset(ACTIONS)

# resource -> role -> allowed actions; exactly the table (and the
# reference design's organization plugin roles). Absent role = no action.
PERMISSIONS: Mapping[str, Mapping[str, frozenset[str]]] = {
    "organization": {"owner": frozenset({"update", "delete"})},
    "member": {"admin": _CRUD, "owner": _CRUD},
    "connection": {"member": frozenset({"read"}), "admin": _CRUD, "owner": _CRUD},
    "conversation": {
        "member": frozenset({"create", "read"}),
        "admin": frozenset({"create", "read", "delete"}),
        "owner": frozenset({"create", "read", "delete"}),
    },
    "semantic": {
        "member": frozenset({"read"}),
        "admin": frozenset({"read", "update"}),
        "owner": frozenset({"read", "update"}),
    },
    "settings": {
        "member": frozenset({"read"}),
        "admin": frozenset({"read", "update"}),
        "owner": frozenset({"read", "update"}),
    },
}


def can(role: str | None, resource: str, action: str) -> bool:
    """True if `role` may do `action` on `resource` per PERMISSIONS."""
    return action in PERMISSIONS.get(resource, {}).get(role or "", frozenset())


@dataclass(frozen=True)
class Access:
    """What a view needs: `kind` is public|login|member|matrix|roles|platform_admin."""

    kind: str
    resource: str | None = None
    action: str | None = None
    roles: tuple[str, ...] = ()
    names_target_org: bool = False


def _declare(access: Access) -> Callable[[F], F]:
    def mark(view: F) -> F:
        view.atlas_access = access  # type: ignore[attr-defined]
        return view

    return mark


public = _declare(Access("public"))
login_required = _declare(Access("login"))
member_required = _declare(Access("member"))
platform_admin_required = _declare(Access("platform_admin"))
# set-active only: its organizationId is the org to switch to, not a foreign reference.
login_required_target_org = _declare(Access("login", names_target_org=True))


def require(resource: str, action: str) -> Callable[[F], F]:
    """Declare a matrix cell; unknown names fail at import, not at request time."""
    if resource not in PERMISSIONS or action not in ACTIONS:
        raise ValueError(f"unknown permission {resource}:{action}")
    return _declare(Access("matrix", resource=resource, action=action))


def roles_required(*roles: str) -> Callable[[F], F]:
    if not roles or any(r not in ROLES for r in roles):
        raise ValueError(f"roles must be among {ROLES}")
    return _declare(Access("roles", roles=tuple(roles)))


def access_of(view: object) -> Access | None:
    return getattr(view, "atlas_access", None)


def check(access: Access) -> None:
    """Raise the right error if the current identity does not satisfy `access`."""
    if access.kind == "public":
        return
    ident = g.get("identity")
    if ident is None:
        raise UnauthorizedError("sign in first: no valid session (it may have expired or been revoked)")
    if not access.names_target_org:
        org_guard.refuse_foreign_org(ident)
    if access.kind == "login":
        return
    if access.kind == "platform_admin":
        if ident.platform_role != "admin":
            raise ForbiddenError("only platform administrators may do this")
        return
    if ident.org_id is None:
        raise NoActiveOrganizationError(
            "no active organization: call POST /api/auth/organization/set-active first"
        )
    if access.kind == "matrix" and not can(ident.role, access.resource, access.action):  # type: ignore[arg-type]
        raise ForbiddenError(f"role {ident.role!r} may not {access.action} {access.resource}")
    if access.kind == "roles" and ident.role not in access.roles:
        raise ForbiddenError(f"only {' or '.join(access.roles)} may do this")


def _enforce() -> None:
    if request.endpoint is None:  # no route matched: the 404/405 handler answers
        return
    view = current_app.view_functions.get(request.endpoint)
    access = access_of(view)
    if access is None:
        raise AccessUndeclaredError(f"endpoint {request.endpoint} declares no access rule")
    check(access)


def init_app(app: Flask) -> None:
    """Register after identity.init_app: the check needs g.identity."""
    app.before_request(_enforce)
