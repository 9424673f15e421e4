"""Who an SSO sign-in is: the user created or linked just in time, their membership, their session.

The user is found by the verified email (or created, with no usable password);
a user who is not yet a member joins with the role the provider's claim maps to,
else the provider's default (never owner: ownership is given by an owner). The
session is bound to the provider's org. `refuse_password` is the other half of
"this org requires SSO": password sign-in is refused for its members.
"""
from __future__ import annotations

import uuid
from typing import Any

from app import audit, auth, orgs
from app.db import Database
from app.errors.sign_in import SsoEmailNotAllowedError, SsoRequiredError
from app.sso.gate import sso_method

NO_PASSWORD = "!sso"  # not an argon2 hash: Passwords.verify answers False for it, always
SSO_ROLES = ("member", "admin")


def role_from_claims(provider: dict, claims: dict[str, Any]) -> str:
    """The first mapped value of the provider's role claim (a string or a list, e.g. groups), else the default."""
    mapping: dict[str, str] = dict(provider["role_mapping"] or {})
    claim = provider["role_claim"]
    values = claims.get(claim) if claim else None
    values = [values] if isinstance(values, str) else values if isinstance(values, list) else []
    for value in values:
        role = mapping.get(str(value))
        if role in SSO_ROLES:
            return role
    return str(provider["default_role"])


def _display_name(claims: dict[str, Any], email: str) -> str:
    name = claims.get("name")
    return name.strip()[:200] if isinstance(name, str) and name.strip() else email.partition("@")[0][:200]


def sign_in(db: Database, *, provider: dict, claims: dict[str, Any], session: dict[str, Any]
            ) -> tuple[auth.NewSession, dict, bool]:
    """(session, user row, whether the user is new) for verified `claims`, bound to the provider's org."""
    email = str(claims["email"]).lower()
    org_id: uuid.UUID = provider["org_id"]
    with db.identity_transaction(auth_email=email) as scope:
        inserted = scope.fetch_value(
            "INSERT INTO users (email, name, password_hash, email_verified) VALUES (%s, %s, %s, true)"
            " ON CONFLICT (email) DO NOTHING RETURNING id", (email, _display_name(claims, email), NO_PASSWORD))
        user = scope.fetch_one("SELECT id, email, name, platform_role, email_verified, created_at, updated_at"
                               " FROM users WHERE email = %s", (email,))
    assert user is not None
    if user["platform_role"] == "admin":  # an org's IdP must not mint a platform admin's session
        raise SsoEmailNotAllowedError("platform administrators sign in with their password, not an organization's SSO")
    created = inserted is not None
    with db.transaction(org_id, user_id=user["id"]) as scope:
        member = scope.fetch_one("SELECT id, role FROM members WHERE user_id = %s", (user["id"],))
        if member is None:
            role = role_from_claims(provider, claims)
            member = orgs.insert_member(scope, org_id, user_id=user["id"], role=role)
            audit.record(scope, action="member.create", entity="member", entity_id=member["id"],
                         changed_fields=("role",), actor_user_id=user["id"],
                         detail={"role": role, "userId": str(user["id"]), "via": "sso",
                                 "providerId": provider["provider_id"]})
        audit.record(scope, action="sso.sign_in", entity="user", entity_id=user["id"], actor_user_id=user["id"],
                     detail={"providerId": provider["provider_id"], "newUser": created, "subject": claims["sub"]})
        new = auth.insert_session(scope, user_id=user["id"], org_id=org_id, **session,
                                  auth_method=sso_method(org_id, provider["provider_id"]))
    return new, user, created


def refuse_password(db: Database, *, user_id: uuid.UUID, platform_role: str) -> None:
    """SsoRequiredError when an org of the user requires SSO (with verified domains); platform admins pass."""
    if platform_role == "admin":
        return
    with db.identity_transaction(user_id=user_id) as scope:
        memberships = scope.fetch_all("SELECT o.id, o.slug FROM organizations o JOIN members m ON m.org_id = o.id"
                                      " WHERE m.user_id = %s ORDER BY o.id", (user_id,))
    for org in memberships:
        with db.transaction(org["id"], user_id=user_id, read_only=True) as scope:
            required = scope.fetch_value("SELECT EXISTS (SELECT 1 FROM sso_providers"
                                         " WHERE sso_required AND domain_verified)")
        if required:
            raise SsoRequiredError(
                f"organization {org['slug']!r} requires single sign-on: sign in with POST /api/auth/sign-in/sso"
                f" and organizationSlug {org['slug']!r} (or your work email) instead of a password")
