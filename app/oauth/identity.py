"""An OAuth access token's identity: the MCP client acts as its consenting user in the token's org.

Here rather than in app/auth/identity.py, so app/auth knows nothing of OAuth (oauth stands on auth).
"""
from __future__ import annotations

from app import auth
from app.auth.identity import Identity
from app.db import Database
from app.oauth import grants


def from_oauth_token(db: Database, token: str, *, resource: str | None) -> Identity | None:
    """An MCP client's live OAuth access token (app/oauth/) for `resource`: its user in its org, with the
    member's current role; None for any other resource (a token is for the MCP endpoint it was issued for)."""
    row = grants.identity_row(db, token)
    if row is None or resource is None or row["resource"] != resource:
        return None
    user = auth.user_json({"id": row["user_id"], "email": row["email"], "name": row["name"],
                           "email_verified": row["email_verified"], "platform_role": row["platform_role"],
                           "created_at": row["user_created_at"], "updated_at": row["user_updated_at"]})
    return Identity(
        user_id=row["user_id"], org_id=row["org_id"], role=row["role"], platform_role="user",
        session_id=row["token_id"], email=row["email"], name=row["name"], expires_at=row["expires_at"],
        token_hash=auth.hash_token(token), session_created_at=row["created_at"], user=user,
    )
