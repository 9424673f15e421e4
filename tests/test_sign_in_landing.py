"""Sign-in lands in the org used last (issue 30 item 4), and callbackURL is Better Auth's, without an open redirect."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from app.devdb.databases import DatabaseFactory
from tests.support.api import PASSWORD, TwoOrgs, anonymous, create_org, two_org_world


@pytest.fixture(scope="module")
def two_orgs(db_factory: DatabaseFactory) -> Iterator[TwoOrgs]:
    """One Acme and Globex for the module: each test signs in as a user no other test moves."""
    with two_org_world(db_factory) as world:
        yield world


def sign_in(app: Flask, email: str, **extra: object) -> tuple[int, dict, dict]:
    r = anonymous(app).post("/api/auth/sign-in/email", json={"email": email, "password": PASSWORD, **extra})
    return r.status_code, r.get_json(), dict(r.headers)


def session_org(app: Flask, token: str) -> str | None:
    r = anonymous(app).get("/api/auth/get-session", headers={"Authorization": f"Bearer {token}"})
    return r.get_json()["session"]["activeOrganizationId"]


def test_sign_in_lands_in_the_org_switched_to_last_not_the_earliest(two_orgs: TwoOrgs) -> None:
    app, owner = two_orgs.app, two_orgs.user("a", "owner")
    later = create_org(owner, "Second", "second-org")  # created after Acme, so not the earliest membership
    status, body, _ = sign_in(app, owner.email)
    assert status == 200 and session_org(app, body["token"]) == str(later)
    owner.set_active(two_orgs.org_a)
    status, body, _ = sign_in(app, owner.email)
    assert session_org(app, body["token"]) == str(two_orgs.org_a)


def test_sign_in_falls_back_to_the_earliest_org_when_the_last_one_was_left(two_orgs: TwoOrgs) -> None:
    app, admin = two_orgs.app, two_orgs.user("a", "admin")
    own = create_org(admin, "Admin's own", "admins-own")
    assert session_org(app, sign_in(app, admin.email)[1]["token"]) == str(own)
    r = admin.post("/api/auth/organization/delete", json={"organizationId": str(own)})
    assert r.status_code == 200, r.get_json()
    assert session_org(app, sign_in(app, admin.email)[1]["token"]) == str(two_orgs.org_a)


def test_sign_in_with_a_callback_url_answers_redirect_true_the_url_and_location(two_orgs: TwoOrgs) -> None:
    status, body, headers = sign_in(two_orgs.app, two_orgs.user("b", "member").email, callbackURL="/dashboard?x=1")
    assert status == 200 and body["redirect"] is True and body["url"] == "/dashboard?x=1"
    assert headers["Location"] == "/dashboard?x=1" and body["token"]


@pytest.mark.parametrize("hostile", [
    "https://evil.example/phish", "//evil.example", "/\\evil.example", "/%2f%2fevil.example", "/%5cevil.example",
    "javascript:alert(1)", "http://127.0.0.1:8000.evil.example/", " https://evil.example",
])
def test_an_untrusted_callback_url_is_refused_before_the_password_is_checked(two_orgs: TwoOrgs, hostile: str) -> None:
    member = two_orgs.user("b", "member")
    status, body, headers = sign_in(two_orgs.app, member.email, callbackURL=hostile)
    assert status == 403 and body["code"] == "INVALID_CALLBACK_URL" and "Location" not in headers
    status, body, _ = sign_in(two_orgs.app, member.email, callbackURL=hostile, password="wrong password")
    assert status == 403 and body["code"] == "INVALID_CALLBACK_URL"  # no password oracle either way
