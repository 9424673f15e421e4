"""Who may do what: the role matrix as data and access declarations (enforced by app/http/access.py).

Views only *declare* their access, as the first field of their one declaration
(`@endpoint(MEMBER, ...)`, app/endpoint.py): PUBLIC, LOGIN, MEMBER,
PLATFORM_ADMIN, `permission(resource, action)`, `roles(...)`; a view with two
audiences declares both (`any_of(...)`: any one admits; `chosen_by(...)`: a body
field chooses). A single before_request hook (app/http/access.py) enforces the
declaration of the matched endpoint; the MCP door and the job queue ask `admit` and the rules here.
A view that declares nothing is refused (fail closed), and a test walks the
URL map to keep every endpoint declared. Views never check roles themselves.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.endpoint import endpoint_of
from app.errors import ForbiddenError
from app.errors.access import NoActiveOrganizationError
from app.errors.better_auth import BetterAuthError
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
    # Org-scoped API keys (app/auth/api_keys.py): admins and owners manage them.
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


def admit(ident: Any, access: Access, *, choose: Callable[[Access], Access] | None = None) -> None:
    """Raise ForbiddenError (NoActiveOrganizationError when an org is needed) unless `ident` qualifies.

    `choose` picks the audience of a `chosen_by` access (the HTTP hook reads the request's body field).
    """
    if access.kind == "by_field":
        if choose is None:
            raise TypeError("a chosen_by access needs the request that chooses (app/http/access.py)")
        admit(ident, choose(access), choose=choose)
        return
    if access.kind == "either":
        for alternative in access.alternatives:
            try:
                admit(ident, alternative, choose=choose)
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
