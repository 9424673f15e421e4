"""SCIM Users: the org's members, as the identity provider sees them.

A SCIM User's id is the person's user id. The list is every member of the org
(a member the provider never sent reads as userName = email, active) and every
user the provider deactivated (kept in scim_users, no longer a member). What the
provider sent is kept as received, per org, and answered back with the server's
id, meta and active; the person's global account is created when the email is
new (no password: they sign in by SSO or set one with a reset) and is never
changed by SCIM, so one org's provider cannot rename a person other orgs share.
An account that already exists is linked (made a member) only when its email's
domain is one this org proved for its SSO provider: another org's provider
cannot pull people in without their consent (they can be invited instead).

- `active: false` removes the membership, with the member-removal cascade (their
  API keys revoked, their live jobs and pending invitations canceled:
  app/cascades.py); every session of theirs bound to the org is revoked (their sessions in other orgs stay).
  `active: true` makes them a member again.
- `roles`: the first value that names an org role (member, admin, or a custom
  role) becomes the member's role; owner is never provisioned, and owners are
  never deactivated or deleted by SCIM (they are managed in Atlas).
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from scim2_models import (
    Context,
    Email,
    ForbiddenException,
    InvalidValueException,
    Meta,
    NotFoundException,
    Role,
    UniquenessException,
    User,
)

from app import audit
from app.db import Row, Scope
from app.db.scoped_settings import scoped_settings
from app.scim.tokens import ScimCaller

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ASSIGNABLE_BUILT_IN = ("member", "admin")

_ROWS = """
SELECT m.user_id, u.email, u.name, m.role, m.created_at AS member_since,
       su.user_name, su.external_id, su.resource, su.created_at, su.updated_at, true AS active
  FROM members m JOIN users u ON u.id = m.user_id
  LEFT JOIN scim_users su ON su.org_id = m.org_id AND su.user_id = m.user_id
 WHERE m.org_id = %(org)s AND (%(user)s::uuid IS NULL OR m.user_id = %(user)s)
UNION ALL
SELECT su.user_id, NULL, NULL, NULL, NULL, su.user_name, su.external_id, su.resource, su.created_at, su.updated_at,
       false
  FROM scim_users su
 WHERE su.org_id = %(org)s AND (%(user)s::uuid IS NULL OR su.user_id = %(user)s)
   AND NOT EXISTS (SELECT 1 FROM members m WHERE m.org_id = su.org_id AND m.user_id = su.user_id)
"""


def rows(scope: Scope, user_id: uuid.UUID | None = None) -> list[Row]:
    return scope.fetch_all(_ROWS, {"org": scope.org_id, "user": user_id})


def find(scope: Scope, user_id: uuid.UUID | None) -> Row:
    found = [] if user_id is None else rows(scope, user_id)
    if not found:
        raise NotFoundException(detail=f"User {user_id} not found")
    return found[0]


def as_resource(row: Row, *, location: str) -> User:
    """The SCIM User of a row: what the provider sent, with the server's id, meta and active."""
    user: User[Any]
    if row["resource"] is not None:
        user = User.model_validate(row["resource"], scim_ctx=None)
        # active as the provider left it while a member (absent means active), false once deactivated
        user.active = user.active if row["active"] else False
    else:  # a member the provider never sent: what Atlas knows
        user = User(user_name=row["email"], display_name=row["name"], emails=_emails(row["email"]), active=True)
    user.id = str(row["user_id"])
    if row["user_name"]:
        user.user_name = row["user_name"]
    user.external_id = row["external_id"]
    created = row["created_at"] or row["member_since"]
    user.meta = Meta(resource_type="User", created=created, last_modified=row["updated_at"] or created,
                     location=location)
    return user


def _emails(address: str) -> list[Email] | None:
    """The member's address as a SCIM email; none for one SCIM's email type refuses (a special-use domain such
    as .test, which Atlas accepts at sign-up)."""
    try:
        return [Email(value=address, primary=True)]
    except ValueError:  # pydantic's ValidationError
        return None


def _email_of(user: User) -> str:
    """The person's email: the primary (or first) email, else userName when it is one, else a placeholder."""
    emails = sorted(user.emails or [], key=lambda e: not e.primary)
    for candidate in [str(e.value) for e in emails if e.value] + [user.user_name or ""]:
        if _EMAIL.match(candidate.strip()):
            return candidate.strip().lower()
    return f"scim-{uuid.uuid4().hex}@scim.invalid"


def _display_name(user: User) -> str:
    name = user.display_name or (user.name and (user.name.formatted or " ".join(
        part for part in (user.name.given_name, user.name.family_name) if part))) or user.user_name or "SCIM user"
    return name.strip()[:200] or "SCIM user"


def role_of(scope: Scope, user: User) -> str | None:
    """The org role the User's roles name (None: leave the role as it is)."""
    for role in user.roles or []:
        value = (str(role.value or "")).strip().lower()
        if value == "owner":
            raise InvalidValueException(detail="roles: owner is never provisioned by SCIM; an owner makes owners")
        if value in ASSIGNABLE_BUILT_IN or (value and scope.fetch_value(
                "SELECT 1 FROM org_roles WHERE org_id = %s AND name = %s", (scope.org_id, value))):
            return value
    return None


def _stored(user: User) -> dict[str, Any]:
    """What is kept of a request's User: everything but what the server owns."""
    payload: dict[str, Any] = user.model_dump(scim_ctx=None, mode="json", exclude={"id", "meta"}, exclude_none=True,
                                              by_alias=True)
    return payload


def _unique_user_name(scope: Scope, user_name: str, *, except_user: uuid.UUID | None = None) -> None:
    taken = scope.fetch_value(
        "SELECT 1 FROM scim_users WHERE org_id = %(org)s AND lower(user_name) = lower(%(name)s)"
        " AND user_id IS DISTINCT FROM %(except)s"
        " UNION ALL SELECT 1 FROM members m JOIN users u ON u.id = m.user_id WHERE m.org_id = %(org)s"
        " AND u.email = lower(%(name)s) AND m.user_id IS DISTINCT FROM %(except)s"
        " AND NOT EXISTS (SELECT 1 FROM scim_users s WHERE s.org_id = m.org_id AND s.user_id = m.user_id)"
        " LIMIT 1", {"org": scope.org_id, "name": user_name, "except": except_user})
    if taken:
        raise UniquenessException(detail=f"userName {user_name!r} is already provisioned in this organization")


def _domain_proven(scope: Scope, email: str) -> bool:
    """Is `email` in a domain one of this org's SSO providers proved (DNS TXT, or a platform admin)?"""
    domain = email.rpartition("@")[2]
    return bool(scope.fetch_value(
        "SELECT 1 FROM sso_providers WHERE org_id = %s AND domain_verified AND domains @> ARRAY[%s::text]",
        (scope.org_id, domain)))


def create(scope: Scope, caller: ScimCaller, user: User) -> uuid.UUID:
    """Provision a person: their account if the email is new, a membership when active, the SCIM record."""
    if not user.user_name:
        raise InvalidValueException(detail="userName is required")
    _unique_user_name(scope, user.user_name)
    email = _email_of(user)
    for statement in scoped_settings({"app.auth_email": email}):
        scope.execute(statement)
    user_id = scope.fetch_value("SELECT id FROM users WHERE email = %s", (email,))
    if user_id is None:
        user_id = scope.fetch_value(
            "INSERT INTO users (email, name, password_hash, email_verified) VALUES (%s, %s, '!', false) RETURNING id",
            (email, _display_name(user)))
    elif scope.fetch_value("SELECT 1 FROM members WHERE org_id = %s AND user_id = %s", (scope.org_id, user_id)):
        raise UniquenessException(detail=f"{email} is already a member of this organization")
    elif not _domain_proven(scope, email):
        # Linking an account someone already has makes them a member without their consent: only for an
        # address in a domain this org proved it owns (its SSO provider's verified domains, docs/sso.md).
        raise UniquenessException(detail=(
            f"an Atlas account with {email} already exists, and {email.rpartition('@')[2]} is not a verified domain"
            " of this organization's SSO provider: verify the domain (POST /api/auth/sso/verify-domain, docs/sso.md)"
            " to link existing accounts, or invite the person (they accept)"))
    role = role_of(scope, user) or "member"
    active = user.active is not False
    scope.execute("INSERT INTO scim_users (org_id, user_id, user_name, external_id, active, resource)"
                  " VALUES (%s, %s, %s, %s, %s, %s)",
                  (scope.org_id, user_id, user.user_name, user.external_id, active, Jsonb(_stored(user))))
    if active:
        scope.execute("INSERT INTO members (org_id, user_id, role) VALUES (%s, %s, %s)", (scope.org_id, user_id, role))
    audit.record(scope, action="scim.user_create", entity="member", entity_id=user_id,
                 changed_fields=("userName", "active", "role"), actor_user_id=caller.created_by,
                 detail={"userName": user.user_name, "email": email, "active": active, "role": role,
                         "scimTokenId": str(caller.token_id)})
    return uuid.UUID(str(user_id))


def replace(scope: Scope, caller: ScimCaller, current: Row, user: User,
            deactivated: Callable[[uuid.UUID], None]) -> None:
    """Store `user` as the person's SCIM record; activate, deactivate or change the role as it says.

    `deactivated(user_id)` runs the member-removal cascade where the org is placed (after this transaction).
    """
    user_id = current["user_id"]
    if not user.user_name:
        raise InvalidValueException(detail="userName is required")
    if user.id is not None and str(user.id) != str(user_id):
        raise InvalidValueException(detail="id cannot be changed")
    _unique_user_name(scope, user.user_name, except_user=user_id)
    active = user.active is not False
    role = role_of(scope, user)
    if current["role"] == "owner" and (not active or (role is not None and role != "owner")):
        raise ForbiddenException(detail="owners are managed in Atlas: SCIM cannot deactivate or demote an owner")
    scope.execute(
        "INSERT INTO scim_users (org_id, user_id, user_name, external_id, active, resource)"
        " VALUES (%(org)s, %(user)s, %(name)s, %(ext)s, %(active)s, %(resource)s)"
        " ON CONFLICT (org_id, user_id) DO UPDATE SET user_name = EXCLUDED.user_name,"
        " external_id = EXCLUDED.external_id, active = EXCLUDED.active, resource = EXCLUDED.resource,"
        " updated_at = now()",
        {"org": scope.org_id, "user": user_id, "name": user.user_name, "ext": user.external_id, "active": active,
         "resource": Jsonb(_stored(user))})
    changed = ["userName", "externalId"]
    if current["active"] and not active:
        scope.execute("DELETE FROM members WHERE org_id = %s AND user_id = %s", (scope.org_id, user_id))
        changed.append("active")
    elif active and not current["active"]:
        scope.execute("INSERT INTO members (org_id, user_id, role) VALUES (%s, %s, %s)",
                      (scope.org_id, user_id, role or "member"))
        changed.append("active")
    elif active and role is not None and role != current["role"]:
        scope.execute("UPDATE members SET role = %s WHERE org_id = %s AND user_id = %s", (role, scope.org_id, user_id))
        changed.append("role")
    audit.record(scope, action="scim.user_update", entity="member", entity_id=user_id, changed_fields=changed,
                 actor_user_id=caller.created_by,
                 detail={"userName": user.user_name, "active": active, "role": role or current["role"],
                         "scimTokenId": str(caller.token_id)})
    if current["active"] and not active:
        deactivated(user_id)


def delete(scope: Scope, caller: ScimCaller, current: Row) -> bool:
    """Remove the membership and the SCIM record; True when a membership went (run the cascade)."""
    if current["role"] == "owner":
        raise ForbiddenException(detail="owners are managed in Atlas: SCIM cannot delete an owner")
    scope.execute("DELETE FROM scim_users WHERE org_id = %s AND user_id = %s", (scope.org_id, current["user_id"]))
    gone = scope.fetch_value("DELETE FROM members WHERE org_id = %s AND user_id = %s RETURNING id",
                             (scope.org_id, current["user_id"]))
    audit.record(scope, action="scim.user_delete", entity="member", entity_id=current["user_id"],
                 actor_user_id=caller.created_by,
                 detail={"userName": current["user_name"] or current["email"], "scimTokenId": str(caller.token_id)})
    return gone is not None


def parse(payload: Any, context: Context) -> User:
    """A request's User (the SCIM 400 of scim2-models for a payload that is not one)."""
    try:
        return User.model_validate(payload, scim_ctx=context)
    except psycopg.Error:
        raise
    except Exception as exc:  # pydantic's ValidationError: the payload is not a valid User
        raise InvalidValueException(detail=str(exc).splitlines()[0][:300]) from None


__all__ = ["Role", "as_resource", "create", "delete", "find", "parse", "replace", "rows"]
