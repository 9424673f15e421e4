"""Organizations, members and invitations: the queries and the Better Auth JSON shapes.

Every function takes an open Scope from the door; the policies on these
global tables decide which rows the scope's settings admit, and each query
names the org explicitly as well.
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping

from psycopg import sql

from app.db import Scope
from app.errors.access import LastOwnerError
from app.errors.better_auth import (
    AlreadyMemberError,
    InvitationNotFoundError,
    MemberNotFoundError,
    OrganizationNotFoundError,
)
from app.instants import iso_ms

# Fixed SQL fragments composed with psycopg.sql (never with string operations).
_MEMBER_SELECT = sql.SQL(
    "SELECT m.id, m.org_id, m.user_id, m.role, m.created_at, u.name AS user_name, u.email AS user_email"
    " FROM members m JOIN users u ON u.id = m.user_id WHERE m.org_id = %(org)s"
)
_ORG_COLUMNS = sql.SQL("id, name, slug, logo, metadata, created_at")
_INVITATION_COLUMNS = sql.SQL("id, org_id, email, role, status, inviter_id, expires_at, created_at")


def _q(template: str, **parts: sql.Composable) -> sql.Composed:
    return sql.SQL(template).format(**parts)


def _iso(value: object) -> object:
    return iso_ms(value)


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def org_json(row: Mapping[str, object]) -> dict:
    return {"id": str(row["id"]), "name": row["name"], "slug": row["slug"], "logo": row["logo"],
            "metadata": row["metadata"], "createdAt": _iso(row["created_at"])}


def member_json(row: Mapping[str, object]) -> dict:
    return {
        "id": str(row["id"]), "organizationId": str(row["org_id"]), "userId": str(row["user_id"]),
        "role": row["role"], "createdAt": _iso(row["created_at"]),
        "user": {"id": str(row["user_id"]), "name": row["user_name"], "email": row["user_email"], "image": None},
    }


def invitation_json(row: Mapping[str, object]) -> dict:
    return {
        "id": str(row["id"]), "organizationId": str(row["org_id"]), "email": row["email"],
        "role": row["role"], "status": row["status"], "inviterId": _str(row["inviter_id"]),
        "expiresAt": _iso(row["expires_at"]), "createdAt": _iso(row["created_at"]),
    }


def invitations_sql(template: str) -> sql.Composed:
    """A statement on invitations whose {c} is the invitation columns (composed, never concatenated)."""
    return _q(template, c=_INVITATION_COLUMNS)


def get_org(scope: Scope, org_id: uuid.UUID) -> dict:
    row = scope.fetch_one(_q("SELECT {c} FROM organizations WHERE id = %s", c=_ORG_COLUMNS), (org_id,))
    if row is None:
        raise OrganizationNotFoundError()
    return row


def orgs_of_user(scope: Scope, user_id: uuid.UUID) -> list[dict]:
    return scope.fetch_all(
        _q("SELECT {c} FROM organizations WHERE id IN (SELECT org_id FROM members WHERE user_id = %s)"
           " ORDER BY created_at, id", c=_ORG_COLUMNS),
        (user_id,),
    )


def membership(scope: Scope, *, user_id: uuid.UUID, org_id: uuid.UUID | None, slug: str | None) -> dict | None:
    """The user's membership joined to its org, found by org id or slug."""
    return scope.fetch_one(
        "SELECT o.id AS org_id, m.role FROM organizations o JOIN members m ON m.org_id = o.id"
        " WHERE m.user_id = %(user)s AND (o.id = %(org)s OR o.slug = %(slug)s)",
        {"user": user_id, "org": org_id, "slug": slug},
    )


def list_members(scope: Scope, org_id: uuid.UUID, *, limit: int | None = None, offset: int = 0) -> list[dict]:
    """The org's members, oldest first; `limit` None is all of them (LIMIT NULL)."""
    return scope.fetch_all(_q("{m} ORDER BY m.created_at, m.id LIMIT %(limit)s OFFSET %(offset)s", m=_MEMBER_SELECT),
                           {"org": org_id, "limit": limit, "offset": offset})


def count_members(scope: Scope, org_id: uuid.UUID) -> int:
    return int(scope.fetch_value("SELECT count(*) FROM members WHERE org_id = %s", (org_id,)) or 0)


def list_invitations(scope: Scope, org_id: uuid.UUID) -> list[dict]:
    return scope.fetch_all(
        _q("SELECT {c} FROM invitations WHERE org_id = %s ORDER BY created_at, id", c=_INVITATION_COLUMNS),
        (org_id,),
    )


def find_member(scope: Scope, org_id: uuid.UUID, *, member_id: uuid.UUID | None = None,
                email: str | None = None) -> dict:
    """One member of the org by id or email, row-locked for the change that follows."""
    row = scope.fetch_one(
        _q("{m} AND (m.id = %(id)s OR u.email = %(email)s) FOR UPDATE OF m", m=_MEMBER_SELECT),
        {"org": org_id, "id": member_id, "email": email},
    )
    if row is None:
        raise MemberNotFoundError()
    return row


def member_of(scope: Scope, org_id: uuid.UUID, *, user_id: uuid.UUID) -> dict:
    """A user's membership of the org, for reading (no lock)."""
    row = scope.fetch_one(_q("{m} AND m.user_id = %(user)s", m=_MEMBER_SELECT), {"org": org_id, "user": user_id})
    if row is None:
        raise MemberNotFoundError()
    return row


def insert_member(scope: Scope, org_id: uuid.UUID, *, user_id: uuid.UUID, role: str) -> dict:
    row = scope.fetch_one(
        "INSERT INTO members (org_id, user_id, role) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
        " RETURNING id",
        (org_id, user_id, role),
    )
    if row is None:
        raise AlreadyMemberError()
    return find_member(scope, org_id, member_id=row["id"])


def lock_owners(scope: Scope, org_id: uuid.UUID) -> set[uuid.UUID]:
    """Lock the org's owner rows (in id order) and return their ids.

    Every member change calls this first, so changes within one org are
    serialized in one lock order: two owners demoting each other at once
    cannot both succeed, and cannot deadlock.
    """
    rows = scope.fetch_all(
        "SELECT id FROM members WHERE org_id = %s AND role = 'owner' ORDER BY id FOR UPDATE", (org_id,))
    return {r["id"] for r in rows}


def keep_an_owner(owners: set[uuid.UUID], *, losing: Mapping[str, object],
                  error: type[LastOwnerError] = LastOwnerError) -> None:
    """Refuse (`error`) if `losing` (about to stop being an owner) is the only owner."""
    if losing["role"] == "owner" and not owners - {losing["id"]}:
        raise error()


def pending_invitation(scope: Scope, org_id: uuid.UUID, email: str) -> dict | None:
    return scope.fetch_one(
        _q("SELECT {c} FROM invitations"
           " WHERE org_id = %s AND email = %s AND status = 'pending' AND expires_at > now()",
           c=_INVITATION_COLUMNS),
        (org_id, email),
    )


def insert_invitation(scope: Scope, org_id: uuid.UUID, *, email: str, role: str,
                      inviter_id: uuid.UUID) -> dict:
    row = scope.fetch_one(
        _q("INSERT INTO invitations (org_id, email, role, inviter_id) VALUES (%s, %s, %s, %s)"
           " RETURNING {c}", c=_INVITATION_COLUMNS),
        (org_id, email, role, inviter_id),
    )
    assert row is not None
    return row


def renew_invitation(scope: Scope, org_id: uuid.UUID, invitation_id: uuid.UUID) -> dict:
    """A pending invitation sent again: its expiry starts over (48 hours, the table's default)."""
    row = scope.fetch_one(
        _q("UPDATE invitations SET expires_at = now() + interval '48 hours' WHERE org_id = %s AND id = %s"
           " RETURNING {c}", c=_INVITATION_COLUMNS),
        (org_id, invitation_id),
    )
    assert row is not None
    return row


def invitation_for_invitee(scope: Scope, invitation_id: uuid.UUID, email: str) -> dict:
    """The invitation addressed to `email`; any other is indistinguishable from a missing one."""
    row = scope.fetch_one(
        _q("SELECT {c} FROM invitations WHERE id = %s AND email = %s", c=_INVITATION_COLUMNS),
        (invitation_id, email),
    )
    if row is None:
        raise InvitationNotFoundError()
    return row
