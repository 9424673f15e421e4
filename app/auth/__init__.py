"""Passwords, session tokens and session rows.

Tokens are `secrets.token_urlsafe(32)` (256 random bits); only their sha256
hex digest is stored, so a copy of the sessions table grants nothing.
Passwords are hashed with argon2id (argon2-cffi). All SQL goes through the
door's identity transaction, whose settings are the only way the narrow
policies on users and sessions admit a row.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.db import Database, Scope
from app.instants import iso_ms

COOKIE_NAME = "better-auth.session_token"
DEFAULT_SESSION_TTL_S = 7 * 24 * 3600
_MAX_TOKEN_LEN = 200


@dataclass(frozen=True)
class NewSession:
    token: str
    session_id: uuid.UUID
    expires_at: dt.datetime


class Passwords:
    """argon2id hashing; cost parameters come from config so tests can be cheap."""

    def __init__(self, *, time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 4) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        # Verified against when the email is unknown, so both paths cost the same.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash or self._dummy, password) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)


class _Lookup(Protocol):
    def get(self, key: str, default: str) -> str: ...


class RequestLike(Protocol):
    """What the token reader needs of a request (Flask's, in app/ the only one): no web framework below HTTP."""

    @property
    def headers(self) -> _Lookup: ...
    @property
    def cookies(self) -> _Lookup: ...


class ResponseLike(Protocol):
    """What the cookie writers need of a response (Flask's)."""

    @property
    def headers(self) -> Any: ...
    def set_cookie(self, key: str, value: str = ..., *, expires: dt.datetime | None = ..., path: str | None = ...,
                   secure: bool = ..., httponly: bool = ..., samesite: str | None = ...) -> None: ...
    def delete_cookie(self, key: str, *, path: str | None = ..., secure: bool = ..., httponly: bool = ...,
                      samesite: str | None = ...) -> None: ...


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_from_request(request: RequestLike) -> str | None:
    """`Authorization: Bearer <token>` wins over the cookie; malformed values count as none."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    token = value.strip() if scheme.lower() == "bearer" else request.cookies.get(COOKIE_NAME, "")
    if not token or len(token) > _MAX_TOKEN_LEN or not token.isascii():
        return None
    return token


def set_session_cookie(response: ResponseLike, new: NewSession, *, secure: bool) -> None:
    response.set_cookie(
        COOKIE_NAME, new.token, expires=new.expires_at, httponly=True, samesite="Lax",
        secure=secure, path="/",
    )
    # Bearer clients read the fresh token here (Better Auth's bearer plugin header).
    response.headers["set-auth-token"] = new.token


def clear_session_cookie(response: ResponseLike, *, secure: bool) -> None:
    response.delete_cookie(COOKIE_NAME, httponly=True, samesite="Lax", secure=secure, path="/")


def insert_session(
    scope: Scope,
    *,
    user_id: uuid.UUID,
    org_id: uuid.UUID | None,
    ttl_s: int,
    user_agent: str | None,
    ip_address: str | None,
    auth_method: str = "password",
) -> NewSession:
    """A new session row for `user_id` (the scope must carry app.user_id = user_id).

    A session bound to an org also records that org as the user's last one
    (users.last_org_id, sql/140_last_org.sql), in the same statement: the
    next sign-in lands there. `auth_method` is how the user signed in
    (sql/160_session_auth_method.sql); a session minted from another inherits it.
    """
    token = new_token()
    row = scope.fetch_one(
        "WITH s AS (INSERT INTO sessions (token_hash, user_id, active_org_id, user_agent, ip_address, expires_at,"
        " auth_method) VALUES (%(hash)s, %(user)s, %(org)s, %(agent)s, %(ip)s,"
        "         now() + make_interval(secs => %(ttl)s), %(method)s)"
        " RETURNING id, expires_at),"
        " last AS (UPDATE users SET last_org_id = %(org)s WHERE id = %(user)s AND %(org)s::uuid IS NOT NULL)"
        " SELECT id, expires_at FROM s",
        {"hash": hash_token(token), "user": user_id, "org": org_id,
         "agent": (user_agent or None) and user_agent[:500], "ip": ip_address, "ttl": ttl_s,
         "method": auth_method},
    )
    assert row is not None
    return NewSession(token=token, session_id=row["id"], expires_at=row["expires_at"])


def revoke_session(db: Database, *, token_hash: str) -> bool:
    """Mark one session revoked; True if it was live."""
    with db.identity_transaction(session_token_hash=token_hash) as scope:
        row = scope.fetch_one(
            "UPDATE sessions SET revoked_at = now()"
            " WHERE token_hash = %(hash)s AND revoked_at IS NULL RETURNING id",
            {"hash": token_hash},
        )
    return row is not None


def consume_session(scope: Scope, *, token_hash: str) -> uuid.UUID | None:
    """Revoke a live session in the caller's transaction, to replace it; its id, or None if it was not live.

    The row lock makes this the one gate for minting a session from another:
    of concurrent callers with one token, exactly one gets the id back (the
    others wait for its commit, then find the session revoked), and a token
    already signed out, switched away or expired gets None.
    """
    return scope.fetch_value(
        "UPDATE sessions SET revoked_at = now()"
        " WHERE token_hash = %s AND revoked_at IS NULL AND expires_at > now() RETURNING id",
        (token_hash,),
    )


def sign_in_org_of(scope: Scope, *, user_id: uuid.UUID) -> uuid.UUID | None:
    """The org a fresh sign-in binds to: the one used last while the user is still its member, else the earliest."""
    return scope.fetch_value(
        "SELECT m.org_id FROM members m WHERE m.user_id = %(user)s"
        " ORDER BY m.org_id IS NOT DISTINCT FROM (SELECT u.last_org_id FROM users u WHERE u.id = %(user)s) DESC,"
        "          m.created_at, m.org_id LIMIT 1",
        {"user": user_id},
    )


def user_json(row: Mapping[str, object]) -> dict:
    """A user as Better Auth shapes it."""
    return {
        "id": str(row["id"]),
        "email": row["email"],
        "name": row["name"],
        "emailVerified": row["email_verified"],
        "image": None,
        "role": row["platform_role"],
        "createdAt": _iso(row["created_at"]),
        "updatedAt": _iso(row["updated_at"]),
    }


def _iso(value: object) -> object:
    return iso_ms(value)
