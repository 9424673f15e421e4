"""Entering an org that requires SSO: only with a session born of one of that org's own providers.

Password sign-in is refused for members of such an org (accounts.refuse_password),
but a session also moves between orgs: set-active, accepting an invitation, and
every session minted from another inherit the presented session's `auth_method`
(sql/160_session_auth_method.sql: 'password' or 'sso:<org id>/<provider id>'). `admit`
is the check every such switch makes, in the switching transaction's scope (it
must carry app.user_id = the caller and the target org): an org with a verified
provider that requires SSO admits only `sso:<one of its providers>`; platform
admins pass, as at sign-in. An API key is created from a session already bound
to its org, so the switch that bound it was checked.

A session already inside the org when its requirement takes effect (the admin
turns `ssoRequired` on, or the domains of a provider that requires it are
verified) is ended then by `end_unadmitted_sessions`, so the requirement binds at
once, not at each member's next switch. One session is spared: the one that made
the change, so its admin can still turn the requirement off if the provider fails
them (they sign in by SSO next time, as everyone else).
"""
from __future__ import annotations

import uuid

from app.db import Database, Scope
from app.db.scoped_settings import scoped_settings
from app.errors.sign_in import SsoRequiredError

PASSWORD = "password"


def method_of(scope: Scope, token_hash: str) -> str:
    """The presented session's auth_method ('password' for an unknown one: the safe side)."""
    found = scope.fetch_value("SELECT auth_method FROM sessions WHERE token_hash = %s", (token_hash,))
    return str(found) if found else PASSWORD


def sso_method(org_id: uuid.UUID, provider_id: str) -> str:
    """The auth_method of a session an SSO sign-in at this org's provider opens."""
    return f"sso:{org_id}/{provider_id}"


def admit(scope: Scope, *, org_id: uuid.UUID, auth_method: str, platform_role: str) -> None:
    """SsoRequiredError unless `auth_method` may enter `org_id` (the scope is that org's, for its user)."""
    if platform_role == "admin":
        return
    row = scope.fetch_one(
        "SELECT bool_or(sso_required AND domain_verified) AS required,"
        " bool_or(%(method)s = 'sso:' || org_id || '/' || provider_id) AS own"
        " FROM sso_providers WHERE org_id = %(org)s", {"org": org_id, "method": auth_method})
    if row is None or not row["required"] or row["own"]:
        return
    slug = scope.fetch_value("SELECT slug FROM organizations WHERE id = %s", (org_id,))
    how = "with a password" if auth_method == PASSWORD else "at another organization's identity provider"
    raise SsoRequiredError(
        f"organization {slug!r} requires single sign-on and this session was opened {how}:"
        f" sign in with POST /api/auth/sign-in/sso and organizationSlug {slug!r} to enter it")


def end_unadmitted_sessions(db: Database, org_id: uuid.UUID, *, sparing: str | None) -> int:
    """Revoke every live session bound to `org_id` that `admit` would now refuse; how many were revoked.

    Nothing when the org does not require SSO (no verified provider with ssoRequired). Sessions are
    their users' rows (RLS), so one transaction takes each member's user id in turn; platform admins
    keep theirs, as at sign-in, and so does the session whose token hash is `sparing` (the caller's).
    """
    with db.transaction(org_id, read_only=True) as scope:
        row = scope.fetch_one(
            "SELECT bool_or(sso_required AND domain_verified) AS required,"
            " array_agg('sso:' || org_id || '/' || provider_id) AS own FROM sso_providers WHERE org_id = %s",
            (org_id,))
        if row is None or not row["required"]:
            return 0
        users = [r["user_id"] for r in scope.fetch_all(
            "SELECT m.user_id FROM members m JOIN users u ON u.id = m.user_id"
            " WHERE m.org_id = %s AND u.platform_role IS DISTINCT FROM 'admin'", (org_id,))]
    revoked = 0
    with db.identity_transaction() as scope:
        for user_id in users:
            for statement in scoped_settings({"app.user_id": str(user_id)}):
                scope.execute(statement)
            revoked += len(scope.fetch_all(
                "UPDATE sessions SET revoked_at = now() WHERE user_id = %s AND active_org_id = %s"
                " AND revoked_at IS NULL AND NOT (auth_method = ANY(%s))"
                " AND token_hash IS DISTINCT FROM %s RETURNING id",
                (user_id, org_id, list(row["own"]), sparing)))
    return revoked
