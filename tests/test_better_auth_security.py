"""Attacks on what issue 13 added: cross-site requests with the cookie, session revocation, password reset.

Each test writes the attack, proves it is refused, and checks the victim's data is unchanged.
"""
from __future__ import annotations

import hashlib
import logging
import re

import psycopg

from tests.support.api import PASSWORD, sign_up
from tests.support.errors import error_of

ORG = "/api/auth/organization"
EVIL = "https://evil.example"


def _one(db, query: str, params: tuple = ()):  # type: ignore[no-untyped-def]
    with psycopg.connect(db.admin_url, autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]


def test_a_cookie_post_from_another_site_is_refused_and_changes_nothing(two_orgs):
    owner = two_orgs.user("a", "owner")  # its test client holds the cookie of its org-A session
    name = _one(two_orgs.db, "SELECT name FROM organizations WHERE id = %s", (two_orgs.org_a,))
    contacts = _one(two_orgs.db, "SELECT count(*) FROM contacts WHERE org_id = %s", (two_orgs.org_a,))
    r = owner.raw("POST", f"{ORG}/update", json={"data": {"name": "Pwned"}}, headers={"Origin": EVIL})
    assert r.status_code == 403 and error_of(r) == {"code": "INVALID_ORIGIN", "message": "Invalid origin"}
    r = owner.raw("POST", f"{ORG}/update", json={"data": {"name": "Pwned"}})
    assert r.status_code == 403 and error_of(r)["code"] == "MISSING_OR_NULL_ORIGIN"
    r = owner.raw("POST", "/api/v1/contacts", json={"first_name": "Planted"}, headers={"Referer": f"{EVIL}/x"})
    assert r.status_code == 403 and error_of(r)["code"] == "invalid_origin"
    assert _one(two_orgs.db, "SELECT name FROM organizations WHERE id = %s", (two_orgs.org_a,)) == name
    assert _one(two_orgs.db, "SELECT count(*) FROM contacts WHERE org_id = %s", (two_orgs.org_a,)) == contacts


def test_the_same_origin_and_the_public_url_may_post_with_the_cookie(two_orgs):
    owner = two_orgs.user("a", "owner")
    for origin in ("http://localhost", "http://127.0.0.1:8000"):  # the test client's host; PUBLIC_URL's default
        r = owner.raw("POST", "/api/v1/contacts", json={"first_name": "Same"}, headers={"Origin": origin})
        assert r.status_code == 201, (origin, r.get_json())


def test_a_bearer_request_is_not_subject_to_the_origin_check(two_orgs):
    r = two_orgs.user("a", "member").post("/api/v1/contacts", json={"first_name": "App"}, headers={"Origin": EVIL})
    assert r.status_code == 201


def test_a_sign_in_from_another_site_is_refused(two_orgs):
    client = two_orgs.app.test_client()
    body = {"email": "owner@acme.test", "password": PASSWORD}
    r = client.post("/api/auth/sign-in/email", json=body, headers={"Origin": EVIL})
    assert r.status_code == 403 and error_of(r)["code"] == "INVALID_ORIGIN" and "set-auth-token" not in r.headers
    r = client.post("/api/auth/sign-in/email", json=body,
                    headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"})
    assert r.status_code == 403 and error_of(r)["code"] == "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED"
    assert client.post("/api/auth/sign-in/email", json=body).status_code == 200  # a server-side app: no browser


def test_cors_answers_trusted_origins_only(two_orgs):
    client = two_orgs.app.test_client()
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    r = client.options(f"{ORG}/update", headers={"Origin": "http://127.0.0.1:8000", **preflight})
    assert r.status_code == 204 and r.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8000"
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    r = client.get("/api/auth/get-session", headers={"Origin": "http://127.0.0.1:8000"})
    assert "set-auth-token" in r.headers["Access-Control-Expose-Headers"]
    r = client.options(f"{ORG}/update", headers={"Origin": EVIL, **preflight})
    assert "Access-Control-Allow-Origin" not in r.headers and "Access-Control-Allow-Methods" not in r.headers


def test_revoking_another_users_session_changes_nothing(two_orgs):
    attacker, victim = two_orgs.user("a", "owner"), two_orgs.user("b", "member")
    handle = hashlib.sha256(victim.token.encode()).hexdigest()
    for token in (handle, victim.token):
        assert attacker.post("/api/auth/revoke-session", json={"token": token}).status_code == 200
    assert _one(two_orgs.db, "SELECT revoked_at FROM sessions WHERE token_hash = %s", (handle,)) is None
    assert victim.get("/api/auth/get-session").get_json()["user"]["id"] == str(victim.user_id)


def test_another_users_sessions_are_never_listed(two_orgs):
    user, other = two_orgs.user("a", "member"), two_orgs.user("a", "admin")
    listed = user.get("/api/auth/list-sessions").get_json()
    assert listed and {s["userId"] for s in listed} == {str(user.user_id)}
    assert hashlib.sha256(other.token.encode()).hexdigest() not in {s["token"] for s in listed}


def test_a_reset_link_works_once_is_not_a_session_and_ends_every_session(two_orgs, caplog):
    victim = two_orgs.user("a", "member")
    with caplog.at_level(logging.WARNING, logger="atlas.account"):
        r = two_orgs.app.test_client().post("/api/auth/request-password-reset", json={"email": victim.email})
    assert r.get_json()["status"] is True
    [token] = re.findall(r"/api/auth/reset-password/([A-Za-z0-9_-]+)\?", caplog.text)
    assert _one(two_orgs.db, "SELECT count(*) FROM password_resets WHERE token_hash = %s",
                (hashlib.sha256(token.encode()).hexdigest(),)) == 1  # stored hashed only
    assert two_orgs.app.test_client().get("/api/auth/get-session",
                                          headers={"Authorization": f"Bearer {token}"}).get_json() is None
    client = two_orgs.app.test_client()
    r = client.post("/api/auth/reset-password", json={"token": token, "newPassword": "new horse battery"})
    assert r.status_code == 200 and r.get_json() == {"status": True}
    r = client.post("/api/auth/reset-password", json={"token": token, "newPassword": "attacker's choice"})
    assert r.status_code == 400 and error_of(r)["code"] == "INVALID_TOKEN"
    assert victim.get("/api/auth/get-session").get_json() is None
    assert client.post("/api/auth/sign-in/email",
                       json={"email": victim.email, "password": "new horse battery"}).status_code == 200


def test_a_reset_for_an_unknown_email_answers_the_same_and_stores_nothing(two_orgs, caplog):
    client = two_orgs.app.test_client()
    with caplog.at_level(logging.WARNING, logger="atlas.account"):
        known = client.post("/api/auth/request-password-reset", json={"email": "member@acme.test"})
        unknown = client.post("/api/auth/request-password-reset", json={"email": "nobody@acme.test"})
    assert known.get_json() == unknown.get_json() and known.status_code == unknown.status_code == 200
    assert "nobody@acme.test" not in caplog.text
    assert _one(two_orgs.db, "SELECT count(*) FROM password_resets") == 1


def test_a_reset_redirect_must_stay_on_a_trusted_origin(two_orgs):
    client = two_orgs.app.test_client()
    r = client.post("/api/auth/request-password-reset", json={"email": "member@acme.test", "redirectTo": EVIL})
    assert r.status_code == 403 and _one(two_orgs.db, "SELECT count(*) FROM password_resets") == 0
    r = client.get(f"/api/auth/reset-password/whatever?callbackURL={EVIL}/steal")
    assert r.status_code == 403 and "Location" not in r.headers
    r = client.get("/api/auth/reset-password/whatever?callbackURL=/reset")
    assert r.status_code == 302 and r.headers["Location"].endswith("/reset?error=INVALID_TOKEN")


def test_check_slug_creates_nothing(two_orgs):
    user = sign_up(two_orgs.app, "prober@x.test")
    before = _one(two_orgs.db, "SELECT count(*) FROM organizations")
    assert user.post(f"{ORG}/check-slug", json={"slug": "fresh-slug"}).get_json() == {"status": True}
    r = user.post(f"{ORG}/check-slug", json={"slug": "globex"})
    assert r.status_code == 400 and error_of(r)["code"] == "ORGANIZATION_SLUG_ALREADY_TAKEN"
    assert _one(two_orgs.db, "SELECT count(*) FROM organizations") == before


def test_an_invitation_is_seen_and_answered_only_by_its_invitee(two_orgs):
    inv = two_orgs.user("b", "owner").post(f"{ORG}/invite-member",
                                           json={"email": "guest@x.test", "role": "member"}).get_json()
    intruder = two_orgs.user("a", "owner")
    r = intruder.get(f"{ORG}/get-invitation?id={inv['id']}")
    assert r.status_code == 400 and error_of(r)["code"] == "INVITATION_NOT_FOUND"
    assert intruder.get(f"{ORG}/list-user-invitations").get_json() == []
    r = intruder.post(f"{ORG}/reject-invitation", json={"invitationId": inv["id"]})
    assert r.status_code == 400
    r = intruder.post(f"{ORG}/cancel-invitation", json={"invitationId": inv["id"]})  # B's, from A's session
    assert r.status_code == 400 and error_of(r)["code"] == "INVITATION_NOT_FOUND"
    assert _one(two_orgs.db, "SELECT status FROM invitations WHERE id = %s", (inv["id"],)) == "pending"
    guest = sign_up(two_orgs.app, "guest@x.test")
    assert [i["id"] for i in guest.get(f"{ORG}/list-user-invitations").get_json()] == [inv["id"]]
    assert guest.get(f"{ORG}/get-invitation?id={inv['id']}").get_json()["inviterEmail"] == "owner@globex.test"
