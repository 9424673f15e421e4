"""Sign-up, sign-in, sessions bound to one org, revocation and expiry, seen on the next request."""
from __future__ import annotations

import datetime as dt
import hashlib
import time

import psycopg
import pytest

from app.auth import COOKIE_NAME
from tests.support.api import (
    PASSWORD,
    close_app,
    create_org,
    invite_and_join,
    make_app,
    sign_up,
)
from tests.support.errors import error_of


def _admin(db):  # type: ignore[no-untyped-def]
    return psycopg.connect(db.admin_url, autocommit=True)


def _session_row(db, token: str) -> dict:  # type: ignore[no-untyped-def]
    with _admin(db) as conn:
        cur = conn.execute(
            "SELECT user_id, active_org_id, expires_at, revoked_at FROM sessions WHERE token_hash = %s",
            (hashlib.sha256(token.encode()).hexdigest(),))
        names = [c.name for c in cur.description]
        row = cur.fetchone()
    assert row is not None
    return dict(zip(names, row))


def test_sign_up_returns_a_token_and_sets_an_httponly_lax_cookie(api_app):
    client = api_app.test_client()
    r = client.post("/api/auth/sign-up/email",
                    json={"email": "Ada@Example.test", "password": PASSWORD, "name": "Ada"})
    assert r.status_code == 200
    body = r.get_json()
    assert body["user"]["email"] == "ada@example.test" and body["user"]["name"] == "Ada"
    assert len(body["token"]) >= 43
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}={body['token']}")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_passwords_are_argon2id_and_tokens_are_stored_only_as_sha256(api_app, fresh_db):
    user = sign_up(api_app, "grace@example.test")
    with _admin(fresh_db) as conn:
        stored = conn.execute("SELECT password_hash FROM users WHERE id = %s", (user.user_id,)).fetchone()[0]
        dump = conn.execute("SELECT string_agg(s::text, '|') FROM sessions s").fetchone()[0]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert user.token not in dump
    assert hashlib.sha256(user.token.encode()).hexdigest() in dump


def test_signing_up_an_existing_email_is_422(api_app):
    sign_up(api_app, "dup@example.test")
    r = api_app.test_client().post("/api/auth/sign-up/email",
                                   json={"email": "DUP@example.test", "password": PASSWORD, "name": "x"})
    assert r.status_code == 422
    assert error_of(r) == {"code": "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
                           "message": "User already exists. Use another email."}


def test_sign_up_reports_every_bad_field(api_app):
    r = api_app.test_client().post("/api/auth/sign-up/email",
                                   json={"email": "not-an-email", "password": "short", "name": ""})
    assert r.status_code == 400
    assert set(error_of(r)["fields"]) == {"email", "password", "name"}


@pytest.mark.parametrize("email,password", [("owner@acme.test", "wrong password"),
                                            ("nobody@acme.test", PASSWORD)])
def test_sign_in_with_bad_credentials_is_401_with_one_message(two_orgs, email, password):
    r = two_orgs.app.test_client().post("/api/auth/sign-in/email", json={"email": email, "password": password})
    assert r.status_code == 401
    assert error_of(r) == {"code": "INVALID_EMAIL_OR_PASSWORD", "message": "Invalid email or password"}


def test_sign_in_binds_the_session_to_the_users_org(two_orgs):
    client = two_orgs.app.test_client()
    r = client.post("/api/auth/sign-in/email", json={"email": "admin@globex.test", "password": PASSWORD})
    assert r.status_code == 200
    session = client.get("/api/auth/get-session").get_json()["session"]  # by cookie
    assert session["activeOrganizationId"] == str(two_orgs.org_b)
    assert session["role"] == "admin"


def test_bearer_token_wins_over_the_cookie(two_orgs):
    a_member, b_member = two_orgs.user("a", "member"), two_orgs.user("b", "member")
    # a_member's client holds a_member's cookie; a bearer header of b_member's token decides.
    r = a_member.client.get("/api/auth/get-session", headers={"Authorization": f"Bearer {b_member.token}"})
    assert r.get_json()["user"]["id"] == str(b_member.user_id)


def test_sign_out_revokes_the_session(two_orgs):
    user = two_orgs.user("a", "member")
    assert user.get("/api/auth/get-session").get_json() is not None
    r = user.post("/api/auth/sign-out")
    assert r.status_code == 200 and r.get_json() == {"success": True}
    assert f"{COOKIE_NAME}=;" in r.headers["Set-Cookie"]
    assert _session_row(two_orgs.db, user.token)["revoked_at"] is not None
    r = user.get("/api/auth/get-session")
    assert r.status_code == 200 and r.get_json() is None  # Better Auth's answer without a session
    r = user.get("/api/auth/list-sessions")
    assert r.status_code == 401 and error_of(r)["code"] == "UNAUTHORIZED"


def test_an_expired_token_is_401(two_orgs):
    user = two_orgs.user("a", "owner")
    with _admin(two_orgs.db) as conn:
        conn.execute("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE token_hash = %s",
                     (hashlib.sha256(user.token.encode()).hexdigest(),))
    assert user.get("/api/auth/organization/list").status_code == 401


@pytest.mark.parametrize("header", ["Bearer not-a-real-token", "Bearer ", "Basic abc", "Bearer " + "x" * 500])
def test_garbage_credentials_are_401(api_app, header):
    r = api_app.test_client().get("/api/auth/list-sessions", headers={"Authorization": header})
    assert r.status_code == 401
    assert api_app.test_client().get("/api/auth/get-session", headers={"Authorization": header}).get_json() is None


def test_session_expiry_is_configurable(fresh_db):
    app = make_app(fresh_db, session_ttl_s=90)
    try:
        user = sign_up(app, "ttl@example.test")
        left = _session_row(fresh_db, user.token)["expires_at"] - dt.datetime.now(dt.UTC)
        assert dt.timedelta(seconds=80) < left <= dt.timedelta(seconds=90)
    finally:
        close_app(app)


def test_default_session_expiry_is_seven_days(api_app, fresh_db):
    user = sign_up(api_app, "week@example.test")
    left = _session_row(fresh_db, user.token)["expires_at"] - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=6, hours=23) < left <= dt.timedelta(days=7)


# ----- one org per session -----

@pytest.fixture
def consultant(two_orgs):
    """A user who is a member of both orgs, session on org A."""
    user = sign_up(two_orgs.app, "consultant@example.test")
    invite_and_join(two_orgs.user("b", "owner"), user, "member")
    invite_and_join(two_orgs.user("a", "owner"), user, "admin")
    return user


def test_switching_orgs_issues_a_fresh_token_and_revokes_the_old(two_orgs, consultant):
    old = consultant.token
    r = consultant.post("/api/auth/organization/set-active", json={"organizationId": str(two_orgs.org_b)})
    assert r.status_code == 200
    new = r.headers["set-auth-token"]
    assert new != old and f"{COOKIE_NAME}={new}" in r.headers["Set-Cookie"]
    assert r.get_json()["id"] == str(two_orgs.org_b)
    # the old token is dead, in the database and at the door
    assert _session_row(two_orgs.db, old)["revoked_at"] is not None
    assert consultant.client.get("/api/auth/get-session",
                                 headers={"Authorization": f"Bearer {old}"}).get_json() is None
    assert consultant.client.get("/api/auth/list-sessions",
                                 headers={"Authorization": f"Bearer {old}"}).status_code == 401
    session = consultant.client.get("/api/auth/get-session", headers={"Authorization": f"Bearer {new}"}).get_json()
    assert session["session"]["activeOrganizationId"] == str(two_orgs.org_b)
    assert session["session"]["role"] == "member"
    assert _session_row(two_orgs.db, new)["active_org_id"] == two_orgs.org_b


def test_switching_by_slug_works_too(two_orgs, consultant):
    r = consultant.post("/api/auth/organization/set-active", json={"organizationSlug": "globex"})
    assert r.status_code == 200 and r.get_json()["slug"] == "globex"


def test_switching_to_an_org_you_are_not_in_is_refused_and_audited(two_orgs):
    user = two_orgs.user("a", "admin")
    r = user.post("/api/auth/organization/set-active", json={"organizationId": str(two_orgs.org_b)})
    assert r.status_code == 403
    assert user.get("/api/auth/get-session").get_json()["session"]["activeOrganizationId"] == str(two_orgs.org_a)
    with _admin(two_orgs.db) as conn:
        rows = conn.execute("SELECT org_id, actor_user_id, outcome FROM audit_log WHERE action = 'session.set_active'"
                            ).fetchall()
    assert rows == [(two_orgs.org_a, user.user_id, "refused")]


def test_clearing_the_active_org_leaves_a_session_without_tenant_access(two_orgs):
    user = two_orgs.user("a", "owner")
    user.set_active(None)
    assert user.get("/api/auth/get-session").get_json()["session"]["activeOrganizationId"] is None
    assert user.get("/api/auth/organization/get-full-organization").get_json() is None
    r = user.get("/api/auth/organization/get-active-member")
    assert r.status_code == 400 and error_of(r)["code"] == "NO_ACTIVE_ORGANIZATION"
    r = user.get("/api/v1/contacts")
    assert r.status_code == 403 and error_of(r)["code"] == "no_active_organization"


def test_a_removed_member_keeps_the_session_but_loses_the_org(two_orgs):
    member = two_orgs.user("a", "member")
    r = two_orgs.user("a", "owner").post("/api/auth/organization/remove-member",
                                        json={"memberIdOrEmail": str(member.member_id)})
    assert r.status_code == 200
    session = member.get("/api/auth/get-session").get_json()["session"]
    assert session["activeOrganizationId"] is None
    assert member.get("/api/auth/organization/get-full-organization").get_json() is None
    assert member.get("/api/auth/organization/get-active-member").status_code == 400
    assert member.get("/api/v1/contacts").status_code == 403


# ----- no identity cache: every request reads its session afresh -----

def test_a_session_revoked_behind_the_apps_back_is_refused_on_the_next_request(api_app, fresh_db):
    """Proof that nothing is cached: the database's word is the app's on the very next request."""
    user = sign_up(api_app, "cache@example.test")
    assert user.get("/api/auth/get-session").get_json() is not None
    with _admin(fresh_db) as conn:
        conn.execute("UPDATE sessions SET revoked_at = now()")
    assert user.get("/api/auth/get-session").get_json() is None


def test_a_role_changed_behind_the_apps_back_applies_on_the_next_request(api_app, fresh_db):
    owner = sign_up(api_app, "boss@example.test")
    org_id = create_org(owner, "Direct", "direct")
    worker = sign_up(api_app, "worker@example.test")
    invite_and_join(owner, worker, "admin")
    assert worker.get("/api/auth/organization/list-invitations").status_code == 200
    with _admin(fresh_db) as conn:
        conn.execute("UPDATE members SET role = 'member' WHERE org_id = %s AND user_id = %s",
                     (org_id, worker.user_id))
    assert worker.get("/api/auth/organization/list-invitations").status_code == 403


def test_sign_out_takes_effect_at_once(api_app):
    user = sign_up(api_app, "out@example.test")
    assert user.get("/api/auth/get-session").get_json() is not None
    user.post("/api/auth/sign-out")
    assert user.get("/api/auth/get-session").get_json() is None


def test_role_change_and_removal_take_effect_at_once(api_app):
    owner = sign_up(api_app, "boss@example.test")
    create_org(owner, "Cached", "cached")
    worker = sign_up(api_app, "worker@example.test")
    invite_and_join(owner, worker, "member")
    assert worker.get("/api/auth/organization/list-invitations").status_code == 403
    r = owner.post("/api/auth/organization/update-member-role",
                   json={"memberId": str(worker.member_id), "role": "admin"})
    assert r.status_code == 200
    assert worker.get("/api/auth/organization/list-invitations").status_code == 200
    owner.post("/api/auth/organization/remove-member", json={"memberIdOrEmail": worker.email})
    assert worker.get("/api/auth/organization/list-invitations").status_code == 400


def test_a_session_is_refused_once_it_expires(fresh_db):
    app = make_app(fresh_db, session_ttl_s=1)
    try:
        user = sign_up(app, "brief@example.test")
        assert user.get("/api/auth/get-session").get_json() is not None
        time.sleep(1.2)
        assert user.get("/api/auth/get-session").get_json() is None
    finally:
        close_app(app)
