"""Who may do what: the role matrix as data, access declarations, one enforcement point.

Views only *declare* their access, as the first field of their one declaration
(`@endpoint(MEMBER, ...)`, app/endpoint.py): PUBLIC, LOGIN, MEMBER,
PLATFORM_ADMIN, `permission(resource, action)`, `roles(...)`; a view with two
audiences declares both (`any_of(...)`: any one admits; `chosen_by(...)`: a body
field chooses). A single before_request hook enforces the declaration of the
matched endpoint.
A view that declares nothing is refused (fail closed), and a test walks the
URL map to keep every endpoint declared. Views never check roles themselves.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g, request

from app import api_keys, auth, org_guard
from app.endpoint import endpoint_of
from app.errors import (
    AccessUndeclaredError,
    ApiKeyRefusedError,
    BetterAuthError,
    ForbiddenError,
    NoActiveOrganizationError,
    UnauthorizedError,
    ValidationError,
)
from app.roles import ROLES

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
    # Org-scoped API keys (app/api_keys.py): admins and owners manage them.
    "apiKey": {"admin": frozenset({"create", "read", "delete"}), "owner": frozenset({"create", "read", "delete"})},
    # The org's single sign-on providers (app/sso, docs/sso.md): admins and owners manage them.
    "ssoProvider": {"admin": _CRUD, "owner": _CRUD},
    # Background jobs (app/jobs): admins and owners enqueue (create), cancel and retry (update).
    "job": {
        "member": frozenset({"read"}),
        "admin": frozenset({"create", "read", "update"}),
        "owner": frozenset({"create", "read", "update"}),
    },
    # Custom roles (Better Auth's dynamic access control, app/org_roles): everyone sees the org's roles.
    "ac": {"member": frozenset({"read"}), "admin": _CRUD, "owner": _CRUD},
    # Teams (app/teams): every member sees the org's teams; admins and owners manage them and their members.
    "team": {"member": frozenset({"read"}), "admin": _CRUD, "owner": _CRUD},
    # SCIM provisioning tokens (app/scim): admins and owners create, list and revoke them.
    "scim": {"admin": frozenset({"create", "read", "delete"}), "owner": frozenset({"create", "read", "delete"})},
}


def can(role: str | None, resource: str, action: str) -> bool:
    """True if the built-in `role` may do `action` on `resource` per PERMISSIONS."""
    return action in PERMISSIONS.get(resource, {}).get(role or "", frozenset())


def allows(ident: Any, resource: str, action: str) -> bool:
    """True if the identity's role may do `action` on `resource`: the matrix for a built-in role, the
    cells its org gave a custom role (resolved with the session, sql/144_custom_roles.sql) otherwise.

    A custom role whose cells did not come with the identity (an API key, a role deleted meanwhile)
    may do nothing.
    """
    role = ident.role
    if role in ROLES:
        return can(role, resource, action)
    cells = getattr(ident, "permission", None)
    return cells is not None and action in cells.get(resource, frozenset()) and resource in PERMISSIONS


# Rules beyond the matrix, named here so that no view compares role names itself.
def may_manage_owners(role: str | None) -> bool:
    """Only an owner grants, changes or removes the owner role, or invites (or un-invites) an owner."""
    return role == "owner"


def may_see_pool_figures(role: str | None) -> bool:
    """An org's admins and owners see its connection pools' figures; its members see its connections only."""
    return role in ("admin", "owner")


def may_run_jobs(role: str | None) -> bool:
    """Whether a job's creator, with this role now, may still have it run (as when enqueueing it)."""
    return can(role, "job", "create")


@dataclass(frozen=True)
class Access:
    """What a view needs: `kind` is public|login|member|matrix|roles|platform_admin|either|by_field."""

    kind: str
    resource: str | None = None
    action: str | None = None
    roles: tuple[str, ...] = ()
    names_target_org: bool = False
    org_optional: bool = False  # matrix: a session without an org is admitted (it sees no org's data)
    refusal: str = ""  # the 403 message, when the default one would not say what was refused
    refused_with: type[BetterAuthError] | None = None  # matrix: the refusal to raise instead (Better Auth's code)
    alternatives: tuple[Access, ...] = ()  # either: any one admits
    field: str = ""  # by_field: the body field choosing among `choices` ...
    default: str = ""  # ... and its value when absent
    choices: tuple[tuple[str, Access], ...] = ()


# The audiences a view declares (`@endpoint(MEMBER, ...)`, app/endpoint.py).
PUBLIC = Access("public")
LOGIN = Access("login")
MEMBER = Access("member")
PLATFORM_ADMIN = Access("platform_admin")
# set-active only: its organizationId is the org to switch to, not a foreign reference.
LOGIN_TARGET_ORG = Access("login", names_target_org=True)


def permission(resource: str, action: str, *, org_optional: bool = False,
               refused_with: type[BetterAuthError] | None = None) -> Access:
    """A matrix cell; unknown names fail at import, not at request time.

    With org_optional, a session without an org is admitted too (the view then serves no org's data);
    refused_with: the error to refuse with (a Better Auth code's class) instead of ForbiddenError.
    """
    if resource not in PERMISSIONS or action not in ACTIONS:
        raise ValueError(f"unknown permission {resource}:{action}")
    return Access("matrix", resource=resource, action=action, org_optional=org_optional,
                  refused_with=refused_with)


def roles(*names: str, refusal: str = "") -> Access:
    """The session org's members with one of these roles."""
    if not names or any(r not in ROLES for r in names):
        raise ValueError(f"roles must be among {ROLES}")
    return Access("roles", roles=tuple(names), refusal=refusal)


def platform_admin(*, refusal: str = "") -> Access:
    """Users whose platform_role is admin."""
    return Access("platform_admin", refusal=refusal)


def any_of(*alternatives: Access, refusal: str) -> Access:
    """A view with several audiences: admitted when any alternative admits, else 403 `refusal`."""
    if len(alternatives) < 2 or any(a.kind in ("public", "either", "by_field") for a in alternatives):
        raise ValueError("any_of needs two or more plain audiences")
    return Access("either", alternatives=alternatives, refusal=refusal)


def chosen_by(field: str, *, default: str, choices: Mapping[str, Access]) -> Access:
    """An audience chosen by one JSON body field (absent: `default`); other values are a 400."""
    if default not in choices or any(a.kind in ("public", "by_field") for a in choices.values()):
        raise ValueError("chosen_by needs its default among the choices, and no public or nested choice")
    return Access("by_field", field=field, default=default, choices=tuple(choices.items()))


def is_platform_admin(ident: Any) -> bool:
    """For views that *show* more to platform admins; who may call a view is declared, not asked."""
    return bool(ident is not None and ident.platform_role == "admin")


def access_of(view: object) -> Access | None:
    declared = endpoint_of(view)
    return None if declared is None else declared.access


def check(access: Access) -> None:
    """Raise the right error if the current identity does not satisfy `access`."""
    if access.kind == "public":
        return
    ident = g.get("identity")
    if ident is None:
        token = auth.token_from_request(request)
        if token is not None and api_keys.is_api_key(token):
            raise UnauthorizedError("this API key is not valid: it may have been revoked or expired,"
                                    " or its creator may have left the organization")
        raise UnauthorizedError("sign in first: no valid session (it may have expired or been revoked)")
    if not access.names_target_org:
        org_guard.refuse_foreign_org(ident)
    admit(ident, access)


def admit(ident: Any, access: Access) -> None:
    """Raise ForbiddenError (NoActiveOrganizationError when an org is needed) unless `ident` qualifies."""
    if access.kind == "by_field":
        admit(ident, _chosen(access))
        return
    if access.kind == "either":
        for alternative in access.alternatives:
            try:
                admit(ident, alternative)
                return
            except ForbiddenError:
                continue
        raise ForbiddenError(access.refusal)
    if access.kind == "login":
        return
    if access.kind == "platform_admin":
        if not is_platform_admin(ident):
            raise ForbiddenError(access.refusal or "only platform administrators may do this")
        return
    if ident.org_id is None:
        if access.org_optional:
            return
        raise NoActiveOrganizationError(
            "no active organization: call POST /api/auth/organization/set-active first"
        )
    if access.kind == "matrix" and not allows(ident, str(access.resource), str(access.action)):
        if access.refused_with is not None:
            raise access.refused_with()
        raise ForbiddenError(access.refusal or f"role {ident.role!r} may not {access.action} {access.resource}")
    if access.kind == "roles" and ident.role not in access.roles:
        raise ForbiddenError(access.refusal or f"only {' or '.join(access.roles)} may do this")


def _chosen(access: Access) -> Access:
    """The audience the request's body field names; 400 for a value that names none."""
    body = request.get_json(silent=True) if request.is_json else None
    value = body.get(access.field, access.default) if isinstance(body, dict) else access.default
    names = [name for name, _ in access.choices]
    if not isinstance(value, str) or value not in names:
        raise ValidationError(f"{access.field} must be " + " or ".join(f'"{name}"' for name in names),
                              details={"fields": {access.field: "must be " + " or ".join(names)}})
    return dict(access.choices)[value]


def _enforce() -> None:
    if request.endpoint is None:  # no route matched: the 404/405 handler answers
        return
    if g.get("identity_pending"):  # a one-trip view: app/hot_reads.py enforces with the session it reads
        return
    declared = endpoint_of(current_app.view_functions.get(request.endpoint))
    if declared is None or declared.access is None:
        raise AccessUndeclaredError(f"endpoint {request.endpoint} declares no access rule")
    check(declared.access)
    ident = g.get("identity")
    if ident is not None and ident.api_key_id is not None and declared.people_only:
        raise ApiKeyRefusedError("an API key may not do this: sign in as a person (a key is bound to its "
                                 "organization and role; switching organizations needs a new key)")


def init_app(app: Flask) -> None:
    """Register after identity.init_app: the check needs g.identity."""
    app.before_request(_enforce)
