"""Org-scoped API keys: credentials for machines (agents, jobs), not a person's browser session.

A key reads `atlas_<org id hex>_<secret>`: the prefix tells it from a session
token, the org id tells which org's rows to look in, and the secret (256 random
bits) is stored only as its SHA-256. Resolving a key is therefore an ordinary
org-scoped read through `app.api_key_identity()` (sql/080_api_keys.sql), made
where the org lives now (`Database.placed_read`, app/placement/router.py): one
round trip for an org in the shared database, where the placement is read in
the same snapshot; for an org in a dedicated database the key is read there and
its creator's role and the placement are confirmed in the shared database, the
authority for members (a third round trip). Nothing is cached, so a revoked or
expired key, or one whose creator left the org, fails on its next request, and
a key of a moved org is resolved from its new database, never from a copy left
behind (docs/placement.md). The key acts as its creator, with the lower of its
own role and the creator's current one, and every audit entry it causes names the key.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from app.auth import hash_token, user_json
from app.auth.placed_identity import MEMBERS_HERE, confirmed_row
from app.db import Database, Scope
from app.errors import AtlasError
from app.roles import outranks

log = logging.getLogger("atlas.api_keys")

PREFIX = "atlas_"
SHOWN_CHARS = 12  # the key's first characters after its org part, kept to recognise it in a list
TOUCH_EVERY_S = 60  # last_used_at is written at most this often per key, so use costs no write per request
_IDENTITY = "SELECT * FROM app.api_key_identity(%(hash)s)"
_COLUMNS = sql.SQL(", ").join(map(sql.Identifier, (
    "id", "name", "role", "start", "created_by", "created_at", "expires_at", "revoked_at", "revoked_by",
    "last_used_at")))


@dataclass(frozen=True)
class NewKey:
    """A key just created: `secret` is the whole key, shown once and never stored."""

    secret: str
    row: dict[str, Any]


def is_api_key(token: str) -> bool:
    return token.startswith(PREFIX)


def org_of(token: str) -> uuid.UUID | None:
    """The org a key names, or None for text that is not a well-formed key."""
    org_hex, sep, secret = token[len(PREFIX):].partition("_")
    if not sep or len(org_hex) != 32 or not secret:
        return None
    try:
        return uuid.UUID(hex=org_hex)
    except ValueError:
        return None


def new_secret(org_id: uuid.UUID) -> str:
    return f"{PREFIX}{org_id.hex}_{secrets.token_urlsafe(32)}"


def lookup(db: Database, token: str) -> dict[str, Any] | None:
    """The live key's identity row (key, org, effective role, creator), or None; read where the org lives."""
    org = org_of(token)
    if org is None:
        return None
    found = confirmed_row(db, org, _IDENTITY, {"hash": hash_token(token)})
    if found is None:
        return None
    row, role_now = found
    if role_now is not MEMBERS_HERE and outranks(row["role"], role_now):
        row["role"] = role_now  # the lower of the key's role and its creator's current one
    row["user"] = user_json({"id": row["user_id"], "email": row["email"], "name": row["name"],
                             "email_verified": row["email_verified"], "platform_role": row["platform_role"],
                             "created_at": row["user_created_at"], "updated_at": row["user_updated_at"]})
    _touch(db, row)
    return row


def _touch(db: Database, row: dict[str, Any]) -> None:
    """Record use at most once a minute per key; a failure here never refuses the request."""
    last = row["last_used_at"]
    if last is not None and (dt.datetime.now(dt.UTC) - last).total_seconds() < TOUCH_EVERY_S:
        return
    try:
        with db.transaction(row["org_id"]) as scope:
            scope.execute("UPDATE api_keys SET last_used_at = now() WHERE org_id = %s AND id = %s"
                          " AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => %s))",
                          (row["org_id"], row["api_key_id"], TOUCH_EVERY_S))
    except (psycopg.Error, AtlasError):  # bookkeeping only
        log.warning("could not record the use of API key %s", row["api_key_id"], exc_info=True)


def create(scope: Scope, *, name: str, role: str, created_by: uuid.UUID,
           expires_at: dt.datetime | None) -> NewKey:
    """Insert a key in the scope's org; the caller checked that `role` is not above the creator's."""
    assert scope.org_id is not None
    secret = new_secret(scope.org_id)
    row = scope.fetch_one(
        sql.SQL("INSERT INTO api_keys (org_id, name, role, token_hash, start, created_by, expires_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {}").format(_COLUMNS),
        (scope.org_id, name, role, hash_token(secret), secret[: len(PREFIX) + 32 + 1 + SHOWN_CHARS],
         created_by, expires_at),
    )
    assert row is not None
    return NewKey(secret=secret, row=row)


def list_all(scope: Scope) -> list[dict[str, Any]]:
    """The org's keys, newest first, revoked ones included (the audit trail names them)."""
    query = sql.SQL("SELECT {} FROM api_keys WHERE org_id = %s ORDER BY created_at DESC, id").format(_COLUMNS)
    return scope.fetch_all(query, (scope.org_id,))


def revoke(scope: Scope, key_id: uuid.UUID, *, revoked_by: uuid.UUID) -> dict[str, Any] | None:
    """Revoke a key of the scope's org (idempotent); None if the org has no such key."""
    return scope.fetch_one(
        sql.SQL("UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()),"
                " revoked_by = coalesce(revoked_by, %s) WHERE org_id = %s AND id = %s RETURNING {}").format(_COLUMNS),
        (revoked_by, scope.org_id, key_id),
    )
