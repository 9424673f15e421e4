"""Codes and tokens: each bound to one org, one user, one client, one redirect URI or resource, one scope.

Every credential's text names its org (`<prefix><org hex>_<secret>`), and only its SHA-256 is stored,
so each step below is one transaction in that org (app/db/__init__.py's door, RLS of sql/150_mcp_oauth.sql).
A failed exchange still commits what it must: the code is spent by its first presentation whatever
follows (a wrong verifier cannot be retried), and a replayed code or a rotated refresh token presented
again revokes every token descended from that code (OAuth 2.1 §4.1.3, RFC 9700 §4.14.2).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from app import audit
from app.auth import hash_token
from app.auth.placed_identity import MEMBERS_HERE, confirmed_row
from app.db import Database, Scope
from app.errors.oauth import InvalidGrantError
from app.oauth.clients import Client

CODE, ACCESS, REFRESH = "mcp_ac_", "mcp_at_", "mcp_rt_"
_IDENTITY = "SELECT * FROM app.oauth_token_identity(%(hash)s)"
_LIST = ("SELECT id, client_id, client_name, scope, resource, created_at, access_expires_at, refresh_expires_at"
         " FROM oauth_tokens WHERE org_id = %s AND user_id = %s AND revoked_at IS NULL"
         " AND refresh_expires_at > now() ORDER BY created_at DESC, id")


@dataclass(frozen=True)
class Lifetimes:
    code_s: int
    access_s: int
    refresh_s: int


def new_credential(prefix: str, org_id: uuid.UUID) -> str:
    return f"{prefix}{org_id.hex}_{secrets.token_urlsafe(32)}"


def org_of(credential: str, prefix: str) -> uuid.UUID | None:
    """The org a credential names, or None for text that is not one of `prefix`'s kind."""
    if not credential.startswith(prefix):
        return None
    org_hex, sep, secret = credential[len(prefix):].partition("_")
    if not sep or len(org_hex) != 32 or not secret:
        return None
    try:
        return uuid.UUID(hex=org_hex)
    except ValueError:
        return None


def is_access_token(token: str) -> bool:
    return token.startswith(ACCESS)


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii", "replace")).digest()).decode().rstrip("=")


def issue_code(db: Database, *, org_id: uuid.UUID, user_id: uuid.UUID, client: Client, redirect_uri: str,
               code_challenge: str, resource: str, scope: str, ttl_s: int) -> str:
    """A code for the consent just given (audited as `oauth.consent`)."""
    code = new_credential(CODE, org_id)
    with db.transaction(org_id, user_id=user_id) as tx:
        row = tx.fetch_one(
            "INSERT INTO oauth_codes (org_id, code_hash, client_id, client_name, user_id, redirect_uri,"
            " code_challenge, resource, scope, expires_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s)) RETURNING id",
            (org_id, hash_token(code), client.client_id, client.name, user_id, redirect_uri, code_challenge,
             resource, scope, ttl_s))
        assert row is not None
        audit.record(tx, action="oauth.consent", entity="oauth_code", entity_id=row["id"], actor_user_id=user_id,
                     detail={"client": client.name, "redirect_uri": redirect_uri, "scope": scope, "resource": resource})
    return code


def exchange_code(db: Database, *, code: str, client_id: str, redirect_uri: str, verifier: str,
                  resource: str | None, lifetimes: Lifetimes) -> dict[str, Any]:
    """The token response for a code; InvalidGrantError (after spending the code) for any mismatch."""
    org = org_of(code, CODE)
    if org is None:
        raise InvalidGrantError("code is not an authorization code of this server")
    refusal, answer = "", None
    with db.transaction(org) as tx:
        row = tx.fetch_one("UPDATE oauth_codes SET used_at = now() WHERE org_id = %s AND code_hash = %s"
                           " AND used_at IS NULL RETURNING *, expires_at > now() AS live", (org, hash_token(code)))
        if row is None:
            _revoke_descendants(tx, org, hash_token(code))
            refusal = "code is unknown or was already used (its tokens are now revoked)"
        elif not row["live"]:
            refusal = "code has expired: authorize again"
        elif not hmac.compare_digest(row["client_id"], client_id):
            refusal = "code was issued to another client"
        elif row["redirect_uri"] != redirect_uri:
            refusal = "redirect_uri differs from the one the code was issued for"
        elif not hmac.compare_digest(s256(verifier), row["code_challenge"]):
            refusal = "code_verifier does not match the code_challenge (PKCE S256)"
        elif resource is not None and resource != row["resource"]:
            refusal = "resource differs from the one the code was issued for"
        else:
            answer = _issue(tx, org, source=row, code_id=row["id"], lifetimes=lifetimes)
    if answer is None:
        raise InvalidGrantError(refusal)
    return answer


def refresh(db: Database, *, refresh_token: str, client_id: str, resource: str | None,
            lifetimes: Lifetimes) -> dict[str, Any]:
    """New tokens for a live refresh token, which is spent (rotation); InvalidGrantError otherwise."""
    org = org_of(refresh_token, REFRESH)
    if org is None:
        raise InvalidGrantError("refresh_token is not a refresh token of this server")
    refusal, answer = "", None
    with db.transaction(org) as tx:
        row = tx.fetch_one(
            "UPDATE oauth_tokens SET revoked_at = now() WHERE org_id = %s AND refresh_hash = %s"
            " AND revoked_at IS NULL AND refresh_expires_at > now()"
            " RETURNING *, EXISTS (SELECT 1 FROM members m WHERE m.org_id = oauth_tokens.org_id"
            " AND m.user_id = oauth_tokens.user_id) AS member", (org, hash_token(refresh_token)))
        if row is None:
            tx.execute("UPDATE oauth_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE org_id = %s"
                       " AND code_id IN (SELECT code_id FROM oauth_tokens WHERE org_id = %s AND refresh_hash = %s)",
                       (org, org, hash_token(refresh_token)))
            refusal = "refresh_token is unknown, expired, revoked or already used"
        elif not hmac.compare_digest(row["client_id"], client_id):
            refusal = "refresh_token was issued to another client (it is now revoked)"
        elif resource is not None and resource != row["resource"]:
            refusal = "resource differs from the one the refresh_token was issued for"
        elif not row["member"]:
            refusal = "the user is no longer a member of the token's organization"
        else:
            answer = _issue(tx, org, source=row, code_id=row["code_id"], lifetimes=lifetimes)
    if answer is None:
        raise InvalidGrantError(refusal)
    return answer


def _revoke_descendants(tx: Scope, org: uuid.UUID, code_hash: str) -> None:
    tx.execute("UPDATE oauth_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE org_id = %s AND code_id IN"
               " (SELECT id FROM oauth_codes WHERE org_id = %s AND code_hash = %s)", (org, org, code_hash))


def _issue(tx: Scope, org: uuid.UUID, *, source: dict[str, Any], code_id: uuid.UUID,
           lifetimes: Lifetimes) -> dict[str, Any]:
    access, refresh_token = new_credential(ACCESS, org), new_credential(REFRESH, org)
    row = tx.fetch_one(
        "INSERT INTO oauth_tokens (org_id, code_id, client_id, client_name, user_id, scope, resource, access_hash,"
        " refresh_hash, access_expires_at, refresh_expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s,"
        " now() + make_interval(secs => %s), now() + make_interval(secs => %s)) RETURNING id",
        (org, code_id, source["client_id"], source["client_name"], source["user_id"], source["scope"],
         source["resource"], hash_token(access), hash_token(refresh_token), lifetimes.access_s, lifetimes.refresh_s))
    assert row is not None
    audit.record(tx, action="oauth.token_issued", entity="oauth_token", entity_id=row["id"],
                 actor_user_id=source["user_id"], api_key_id=None,
                 detail={"client": source["client_name"], "scope": source["scope"]})
    return {"access_token": access, "token_type": "Bearer", "expires_in": lifetimes.access_s,
            "refresh_token": refresh_token, "scope": source["scope"]}


def revoke(db: Database, token: str) -> None:
    """Revoke the token (access or refresh: both of its pair) a client presents (RFC 7009; unknown: no-op)."""
    org = org_of(token, ACCESS) or org_of(token, REFRESH)
    if org is None:
        return
    with db.transaction(org) as tx:
        row = tx.fetch_one("UPDATE oauth_tokens SET revoked_at = now() WHERE org_id = %s"
                           " AND (access_hash = %s OR refresh_hash = %s) AND revoked_at IS NULL RETURNING id, user_id",
                           (org, hash_token(token), hash_token(token)))
        if row is not None:
            audit.record(tx, action="oauth.token_revoked", entity="oauth_token", entity_id=row["id"],
                         actor_user_id=row["user_id"], api_key_id=None, detail={"by": "client"})


def revoke_own(tx: Scope, token_id: uuid.UUID, *, user_id: uuid.UUID) -> bool:
    """The signed-in user revokes one of their tokens in the scope's org; False if they have no such token."""
    row = tx.fetch_one("UPDATE oauth_tokens SET revoked_at = coalesce(revoked_at, now()),"
                       " revoked_by = coalesce(revoked_by, %s) WHERE org_id = %s AND id = %s AND user_id = %s"
                       " RETURNING id", (user_id, tx.org_id, token_id, user_id))
    if row is not None:
        audit.record(tx, action="oauth.token_revoked", entity="oauth_token", entity_id=token_id,
                     detail={"by": "user"})
    return row is not None


def list_own(tx: Scope, *, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """The user's live grants in the scope's org, newest first."""
    return tx.fetch_all(_LIST, (tx.org_id, user_id))


def identity_row(db: Database, token: str) -> dict[str, Any] | None:
    """The live access token's row (token, org, member's role now, user), or None; read where the org lives,
    its user's membership confirmed in the shared database (app/auth/placed_identity.py)."""
    org = org_of(token, ACCESS)
    if org is None:
        return None
    found = confirmed_row(db, org, _IDENTITY, {"hash": hash_token(token)})
    if found is None:
        return None
    row, role_now = found
    if role_now is not MEMBERS_HERE:
        row["role"] = role_now  # the member's role now, from the shared database (a dedicated mirror may lag)
    return row
