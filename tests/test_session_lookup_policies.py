"""sql/063_session_lookup.sql: under a session token alone, the app role sees that live session's user and
their memberships, and nothing else; a revoked, expired or unknown token sees nothing."""
from __future__ import annotations

import hashlib

import psycopg
import pytest
from psycopg import sql


def _visible(db_url: str, token_hash: str) -> dict[str, set]:
    """What each global auth table shows the app role under SET LOCAL app.session_token_hash alone."""
    with psycopg.connect(db_url) as conn:  # one transaction, rolled back on close
        conn.execute(sql.SQL("SET LOCAL app.session_token_hash = {}").format(sql.Literal(token_hash)))
        return {
            "users": {r[0] for r in conn.execute("SELECT email FROM users")},
            "members": set(conn.execute("SELECT org_id, user_id FROM members")),
            "sessions": {r[0] for r in conn.execute("SELECT token_hash FROM sessions")},
        }


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def test_a_live_token_sees_only_its_own_user_and_memberships(two_orgs):
    member = two_orgs.user("a", "member")
    seen = _visible(two_orgs.db.app_url, _hash(member.token))
    assert seen == {"users": {member.email}, "members": {(two_orgs.org_a, member.user_id)},
                    "sessions": {_hash(member.token)}}


@pytest.mark.parametrize("ending", ["signed out", "expired", "unknown"])
def test_a_dead_or_unknown_token_sees_no_user_and_no_membership(two_orgs, ending):
    victim = two_orgs.user("b", "owner")
    token_hash = _hash(victim.token) if ending != "unknown" else _hash("guessed-token")
    if ending == "signed out":
        assert victim.post("/api/auth/sign-out").status_code == 200
    if ending == "expired":
        with psycopg.connect(two_orgs.db.admin_url) as conn:
            conn.execute("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE token_hash = %s",
                         (token_hash,))
    seen = _visible(two_orgs.db.app_url, token_hash)
    assert seen["users"] == set() and seen["members"] == set()
