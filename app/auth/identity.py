"""Who is asking: a session token or an API key resolved to an Identity (the HTTP hook: app/http/identity.py).

The session token names the user and the session's one org; the user's role
comes from their membership in that org, read afresh (a removed member keeps
a session but loses the org). Nothing is cached: every request reads the
session, the user and the membership from the database, in one round trip
(app/db/wire.py) through app.resolve_session (sql/064_resolve_session.sql, sql/096_session_by_user.sql), the
one place a session is resolved, so sign-out, an org switch, a role change
or a removal is seen by every worker and every app server from the moment its
response is sent. Hot reads (app/http/hot_reads.py) resolve it in the same round
trip and snapshot as their data. An API key (`atlas_...`, app/auth/api_keys.py)
resolves the same way, through its own org-scoped statement, to its creator in
its org with the key's role.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app import auth
from app.auth import api_keys
from app.db import Database
from app.instants import iso_ms


@dataclass(frozen=True)
class Identity:
    """The signed-in user, their session and the session's org (None if not a member).

    For an API key: the key's creator, the key's org and role, `session_id` is the key's id and
    `api_key_id` is set (audit entries name it); `expires_at` is None for a key that never expires.
    """

    user_id: uuid.UUID
    org_id: uuid.UUID | None
    role: str | None
    platform_role: str
    session_id: uuid.UUID
    email: str
    name: str
    expires_at: dt.datetime | None
    token_hash: str
    session_created_at: dt.datetime
    user: dict[str, Any]
    api_key_id: uuid.UUID | None = None
    permission: Mapping[str, frozenset[str]] | None = None  # a custom role's cells (sql/144_custom_roles.sql)
    active_team_id: uuid.UUID | None = None  # Better Auth's activeTeamId: a preference, never a grant (sql/145)
    user_agent: str | None = None
    ip_address: str | None = None


def lookup(db: Database, token_hash: str) -> Identity | None:
    """The live session for a token hash, its user and their role in its org, or None (one round trip)."""
    row, _ = db.session_read(token_hash)
    return from_row(row, token_hash)


def from_row(row: dict[str, Any] | None, token_hash: str) -> Identity | None:
    """An identity from app.resolve_session's row (sql/064_resolve_session.sql, sql/096_session_by_user.sql), the one credential resolver."""
    if row is None:
        return None
    role = row["role"]
    return Identity(
        user_id=row["user_id"],
        org_id=row["active_org_id"] if role is not None else None,
        role=role,
        platform_role=row["platform_role"],
        session_id=row["session_id"],
        email=row["email"],
        name=row["name"],
        expires_at=row["expires_at"],
        token_hash=token_hash,
        session_created_at=row["session_created_at"],
        user=auth.user_json(row),
        permission=custom_cells(row.get("permission")),
        active_team_id=row.get("active_team_id") if role is not None else None,
        user_agent=row["user_agent"],
        ip_address=row["ip_address"],
    )


def custom_cells(stored: object) -> Mapping[str, frozenset[str]] | None:
    """A custom role's stored {resource: [action, ...]} as frozensets; None for a built-in role."""
    if not isinstance(stored, dict):
        return None
    return {str(resource): frozenset(map(str, actions)) for resource, actions in stored.items()
            if isinstance(actions, list)}


def from_api_key(db: Database, token: str) -> Identity | None:
    """The live API key's creator, in the key's org with the key's role, or None."""
    row = api_keys.lookup(db, token)
    if row is None:
        return None
    return Identity(
        user_id=row["user_id"], org_id=row["org_id"], role=row["role"],
        # A key acts within its org only: it never carries its creator's platform powers.
        platform_role="user",
        session_id=row["api_key_id"], email=row["email"], name=row["name"], expires_at=row["expires_at"],
        token_hash=auth.hash_token(token), session_created_at=row["created_at"], user=row["user"],
        api_key_id=row["api_key_id"],
    )


def resolve(db: Database, token: str | None) -> Identity | None:
    """The identity behind a bearer token or cookie: an API key by its prefix, else a session."""
    if token is None:
        return None
    if api_keys.is_api_key(token):
        return from_api_key(db, token)
    return lookup(db, auth.hash_token(token))


def session_json(ident: Identity, *, token: str | None) -> dict:
    """A session as Better Auth shapes it; `token` is the caller's own (only its hash is stored).

    Sessions are never changed in place (a switch mints a new one), so updatedAt is createdAt.
    """
    return {
        "id": str(ident.session_id),
        "token": token,
        "userId": str(ident.user_id),
        "activeOrganizationId": None if ident.org_id is None else str(ident.org_id),
        "activeTeamId": None if ident.active_team_id is None else str(ident.active_team_id),
        "role": ident.role,
        "expiresAt": iso_ms(ident.expires_at),
        "createdAt": iso_ms(ident.session_created_at),
        "updatedAt": iso_ms(ident.session_created_at),
        "ipAddress": ident.ip_address,
        "userAgent": ident.user_agent,
    }
