"""The org's SCIM bearer tokens: `scim_<org>_<secret>`, only the SHA-256 of which is stored.

The token's text names its org, so resolving it is one org-scoped read in the
shared database (sql/146_scim.sql), like an API key. A token works while it is
not revoked and its creator is still an owner or admin of the org: demoting or
removing the creator stops their tokens, as it stops their API keys.
"""
from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass

from psycopg import sql

from app import audit
from app.auth import hash_token
from app.db import Database, Row, Scope
from app.instants import iso_ms
from app.placement.router import control_plane

PREFIX = "scim_"
SHOWN_CHARS = 4
_FORM = re.compile(r"^scim_([0-9a-f]{32})_[A-Za-z0-9_-]{20,100}$")
_COLUMNS = sql.SQL(", ").join(map(sql.Identifier, (
    "id", "org_id", "name", "start", "created_by", "created_at", "last_used_at", "revoked_at")))
MANAGERS = ("owner", "admin")


@dataclass(frozen=True)
class ScimCaller:
    """Who is provisioning: the token's org, the token, and the owner or admin who created it."""

    org_id: uuid.UUID
    token_id: uuid.UUID
    created_by: uuid.UUID


def org_of(token: str) -> uuid.UUID | None:
    match = _FORM.match(token)
    return uuid.UUID(match.group(1)) if match else None


def token_json(row: Row) -> dict[str, object]:
    return {"id": str(row["id"]), "name": row["name"], "start": row["start"],
            "createdBy": None if row["created_by"] is None else str(row["created_by"]),
            "createdAt": iso_ms(row["created_at"]), "lastUsedAt": iso_ms(row["last_used_at"]),
            "revokedAt": iso_ms(row["revoked_at"])}


def create(scope: Scope, *, name: str, created_by: uuid.UUID) -> tuple[Row, str]:
    """A new token for the scope's org: its row and its text (shown once)."""
    assert scope.org_id is not None
    token = f"{PREFIX}{scope.org_id.hex}_{secrets.token_urlsafe(32)}"
    row = scope.fetch_one(sql.SQL(
        "INSERT INTO scim_tokens (org_id, name, token_hash, start, created_by) VALUES (%s, %s, %s, %s, %s)"
        " RETURNING {}").format(_COLUMNS),
        (scope.org_id, name, hash_token(token), token[: len(PREFIX) + 32 + 1 + SHOWN_CHARS], created_by))
    assert row is not None
    audit.record(scope, action="scim_token.create", entity="scim_token", entity_id=row["id"],
                 changed_fields=("name",), detail={"name": name})
    return row, token


def list_tokens(scope: Scope) -> list[Row]:
    return scope.fetch_all(sql.SQL("SELECT {} FROM scim_tokens WHERE org_id = %s ORDER BY created_at DESC, id")
                           .format(_COLUMNS), (scope.org_id,))


def revoke(scope: Scope, token_id: uuid.UUID) -> Row | None:
    row = scope.fetch_one(sql.SQL("UPDATE scim_tokens SET revoked_at = coalesce(revoked_at, now())"
                                  " WHERE org_id = %s AND id = %s RETURNING {}").format(_COLUMNS),
                          (scope.org_id, token_id))
    if row is not None:
        audit.record(scope, action="scim_token.revoke", entity="scim_token", entity_id=token_id,
                     changed_fields=("revoked_at",), detail={"name": row["name"]})
    return row


def lookup(db: Database, token: str | None) -> ScimCaller | None:
    """The caller behind a live token, or None (malformed, unknown, revoked, or its creator no longer manages)."""
    org = None if token is None else org_of(token)
    if org is None or token is None:
        return None
    with control_plane(), db.transaction(org) as scope:
        row = scope.fetch_one(
            "UPDATE scim_tokens t SET last_used_at = now()"
            " FROM members m WHERE t.org_id = %(org)s AND t.token_hash = %(hash)s AND t.revoked_at IS NULL"
            " AND m.org_id = t.org_id AND m.user_id = t.created_by AND m.role = ANY(%(managers)s)"
            " RETURNING t.id, t.created_by", {"org": org, "hash": hash_token(token), "managers": list(MANAGERS)})
    if row is None:
        return None
    return ScimCaller(org_id=org, token_id=row["id"], created_by=row["created_by"])
