"""Session endpoints of Better Auth's core: list-sessions, revoke-session, revoke-sessions, revoke-other-sessions.

Atlas stores only a token's sha256, so a listed session's `token` is the
caller's own token for the current session and, for the others, that hash: a
handle revoke-session accepts, which authenticates nothing (presenting it as a
token hashes it again). Revocation is immediate everywhere (every request reads
the session afresh, app/auth/identity.py).
"""
from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue

from app import auth
from app.api import get_db
from app.api.spec.schemas import SESSION, STATUS
from app.bodies.auth_requests import RevokeSession
from app.endpoint import endpoint
from app.http.context import services
from app.instants import iso_ms
from app.permissions import LOGIN

bp = Blueprint("sessions", __name__, url_prefix="/api/auth")
_HASH = re.compile(r"^[0-9a-f]{64}$")


def _session_row_json(row: dict[str, Any], *, own_token: str | None, own_hash: str) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "token": own_token if row["token_hash"] == own_hash else row["token_hash"],
        "userId": str(row["user_id"]),
        "activeOrganizationId": None if row["active_org_id"] is None else str(row["active_org_id"]),
        "expiresAt": iso_ms(row["expires_at"]),
        "createdAt": iso_ms(row["created_at"]),
        "updatedAt": iso_ms(row["created_at"]),
        "ipAddress": row["ip_address"],
        "userAgent": row["user_agent"],
    }


@bp.get("/list-sessions")
@endpoint(LOGIN, tag="sessions", response={"type": "array", "items": SESSION}, people_only=True)
def list_sessions() -> ResponseReturnValue:
    """The user's live sessions, newest first."""
    ident = g.identity
    with get_db().identity_transaction(user_id=ident.user_id) as scope:
        rows = scope.fetch_all(
            "SELECT id, token_hash, user_id, active_org_id, expires_at, created_at, user_agent,"
            " host(ip_address) AS ip_address FROM sessions"
            " WHERE user_id = %s AND revoked_at IS NULL AND expires_at > now() ORDER BY created_at DESC, id",
            (ident.user_id,))
    own = auth.token_from_request(request)
    return jsonify([_session_row_json(r, own_token=own, own_hash=ident.token_hash) for r in rows])


def _revoke(*, user_id: uuid.UUID, only_hash: str | None = None, keep_hash: str | None = None) -> int:
    """Revoke the user's live sessions (one by hash, or all but `keep_hash`); how many were revoked."""
    with get_db().identity_transaction(user_id=user_id) as scope:
        rows = scope.fetch_all(
            "UPDATE sessions SET revoked_at = now() WHERE user_id = %(user)s AND revoked_at IS NULL"
            " AND (%(only)s::text IS NULL OR token_hash = %(only)s)"
            " AND (%(keep)s::text IS NULL OR token_hash <> %(keep)s) RETURNING id",
            {"user": user_id, "only": only_hash, "keep": keep_hash})
    return len(rows)


def _ended(own_session_ended: bool) -> ResponseReturnValue:
    response = jsonify({"status": True})
    if own_session_ended:
        auth.clear_session_cookie(response, secure=services().settings.http.cookie_secure)
    return response


@bp.post("/revoke-session")
@endpoint(LOGIN, tag="sessions", body=RevokeSession, response=STATUS, people_only=True)
def revoke_session(body: RevokeSession) -> ResponseReturnValue:
    """Revoke one of the user's sessions by its token (or listed handle)

    Revoke one of the user's sessions by its token or listed handle; another user's is silently untouched.
    """
    token = body.token
    token_hash = token if _HASH.match(token) else auth.hash_token(token)
    ident = g.identity
    _revoke(user_id=ident.user_id, only_hash=token_hash)
    return _ended(token_hash == ident.token_hash)


@bp.post("/revoke-sessions")
@endpoint(LOGIN, tag="sessions", response=STATUS, people_only=True)
def revoke_sessions() -> ResponseReturnValue:
    """Revoke every session of the user, this one included.

    Sign the user out everywhere, this session included.
    """
    _revoke(user_id=g.identity.user_id)
    return _ended(True)


@bp.post("/revoke-other-sessions")
@endpoint(LOGIN, tag="sessions", response=STATUS, people_only=True)
def revoke_other_sessions() -> ResponseReturnValue:
    """Revoke every session of the user but this one."""
    _revoke(user_id=g.identity.user_id, keep_hash=g.identity.token_hash)
    return _ended(False)
