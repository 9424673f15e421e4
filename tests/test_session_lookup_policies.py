"""sql/096_session_by_user.sql: a token alone admits its live session and nothing else; app.resolve_session
then reads the user and their membership as that user, and scopes the rest of the transaction.

A revoked, expired or unknown token sees nothing and leaves the transaction with no user and no org."""
from __future__ import annotations

import hashlib

import psycopg
import pytest
from psycopg import sql

SETTINGS = "SELECT current_setting('app.user_id', true), current_setting('app.org_id', true)"


def _visible(db_url: str, token_hash: str) -> dict[str, set]:
    """What each global auth table shows the app role under SET LOCAL app.session_token_hash alone."""
    with psycopg.connect(db_url) as conn:  # one transaction, rolled back on close
        conn.execute(sql.SQL("SET LOCAL app.session_token_hash = {}").format(sql.Literal(token_hash)))
        return {
            "users": {r[0] for r in conn.execute("SELECT email FROM users")},
            "members": set(conn.execute("SELECT org_id, user_id FROM members")),
            "sessions": {r[0] for r in conn.execute("SELECT token_hash FROM sessions")},
        }


def _resolved(db_url: str, token_hash: str) -> tuple[list[tuple], tuple, set]:
    """(app.resolve_session's rows, the settings it leaves, the users then visible), in one transaction."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT user_id, active_org_id, email, role FROM app.resolve_session(%s)",
                            (token_hash,)).fetchall()
        settings = conn.execute(SETTINGS).fetchone()
        users = {r[0] for r in conn.execute("SELECT email FROM users")}
        return rows, settings, users


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def test_a_live_token_alone_sees_its_session_and_no_user_or_membership(two_orgs):
    member = two_orgs.user("a", "member")
    seen = _visible(two_orgs.db.app_url, _hash(member.token))
    assert seen == {"users": set(), "members": set(), "sessions": {_hash(member.token)}}


def test_resolving_a_live_token_yields_its_user_and_role_and_scopes_the_transaction(two_orgs):
    member = two_orgs.user("a", "member")
    rows, settings, users = _resolved(two_orgs.db.app_url, _hash(member.token))
    assert rows == [(member.user_id, two_orgs.org_a, member.email, "member")]
    assert settings == (str(member.user_id), str(two_orgs.org_a))
    assert member.email in users


def test_resolving_leaves_no_org_for_a_user_removed_from_the_sessions_org(two_orgs):
    member = two_orgs.user("a", "member")
    with psycopg.connect(two_orgs.db.admin_url) as conn:
        conn.execute("DELETE FROM members WHERE user_id = %s AND org_id = %s", (member.user_id, two_orgs.org_a))
    rows, settings, _ = _resolved(two_orgs.db.app_url, _hash(member.token))
    assert rows == [(member.user_id, two_orgs.org_a, member.email, None)]
    assert settings[0] == str(member.user_id) and settings[1] in (None, "")


@pytest.mark.parametrize("ending", ["signed out", "expired", "unknown"])
def test_a_dead_or_unknown_token_sees_nothing_and_resolves_to_no_identity(two_orgs, ending):
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
    rows, settings, users = _resolved(two_orgs.db.app_url, token_hash)
    assert rows == [] and set(settings) <= {None, ""} and users == set()
