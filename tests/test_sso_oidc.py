"""Single sign-on over OIDC against a real provider (panva's oidc-provider, tests/support/oidc_provider.py).

Acme (org a) connects its provider `a-idp` for a.example, Globex (org b) its own
`b-idp` for b.example. The sign-ins go the whole way: Atlas's authorization URL,
the provider's redirects, the callback, the code exchange, the ID token checked
against the provider's JWKS, the user and membership made just in time. Each
attack is refused with its error, and the victim org's members and the users
table are unchanged afterwards.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import psycopg
import pytest
from cryptography.fernet import Fernet
from flask.testing import FlaskClient

from app.credentials import CredentialBox
from app.devdb.databases import DatabaseFactory
from app.http.context import services
from app.sso.flow import MAX_LIVE_FLOWS
from app.sso.providers import rotate_secrets
from tests.support import dns_zone
from tests.support.api import PASSWORD, TwoOrgs, anonymous, two_org_world
from tests.support.oidc_provider import Provider, path_of, running_provider

PUBLIC_URL = "http://127.0.0.1:8000"
CALLBACK = f"{PUBLIC_URL}/api/auth/sso/callback/"
ACCOUNTS = {
    "alice": {"email": "alice@a.example", "email_verified": True, "name": "Alice", "groups": ["engineering"]},
    "boss": {"email": "boss@a.example", "email_verified": True, "name": "Boss", "groups": ["atlas-admins"]},
    "linked": {"email": "linked@a.example", "email_verified": True, "name": "Linked"},
    "mallory": {"email": "owner@globex.test", "email_verified": True, "name": "Globex's owner, claimed"},
    "outsider": {"email": "ceo@b.example", "email_verified": True, "name": "B's CEO, claimed"},
    "platform": {"email": "root@a.example", "email_verified": True, "name": "Platform admin"},
    "bob": {"email": "bob@b.example", "email_verified": True, "name": "Bob"},
    "required": {"email": "required@a.example", "email_verified": True, "name": "Required"},
}


@dataclass
class World:
    orgs: TwoOrgs
    idp: Provider
    key: str  # ATLAS_CONNECTION_KEYS of the app

    def admin(self, org: str) -> Any:
        return self.orgs.user(org, "admin")

    def snapshot(self, org: str) -> tuple[list, list]:
        """The org's members and every user: what an attack must leave as it was."""
        with psycopg.connect(self.orgs.db.admin_url) as conn:
            members = conn.execute("SELECT user_id, role FROM members WHERE org_id = %s ORDER BY user_id",
                                   (self.orgs.org(org),)).fetchall()
            users = conn.execute("SELECT id, email, platform_role FROM users ORDER BY id").fetchall()
        return members, users

    def audit(self, org: str, action: str) -> list[tuple]:
        with psycopg.connect(self.orgs.db.admin_url) as conn:
            return conn.execute("SELECT outcome, entity_id, detail FROM audit_log WHERE org_id = %s AND action = %s"
                                " ORDER BY occurred_at", (self.orgs.org(org), action)).fetchall()


def register(admin: Any, idp: Provider, provider_id: str, domain: str, client_id: str, **extra: Any) -> Any:
    return admin.post("/api/auth/sso/register", json={
        "providerId": provider_id, "issuer": idp.issuer, "domain": domain,
        "oidcConfig": {"clientId": client_id, "clientSecret": f"secret-{client_id}",
                       "scopes": ["openid", "email", "profile", "groups"]}, **extra})


@pytest.fixture(scope="module")
def world(db_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    clients = [{"client_id": cid, "client_secret": f"secret-{cid}", "redirect_uris": [CALLBACK + pid]}
               for cid, pid in (("atlas-a", "a-idp"), ("atlas-b", "b-idp"), ("atlas-a2", "a-second"))]
    key = Fernet.generate_key().decode()
    with running_provider(clients=clients, accounts=ACCOUNTS, workdir=tmp_path_factory.mktemp("oidc")) as idp, \
            two_org_world(db_factory, connection_keys=key, sso_allow_http_issuers=True,
                          sso_clock_skew_s=5, sso_txt_resolver="tests.support.dns_zone:resolve_txt") as orgs:
        world = World(orgs=orgs, idp=idp, key=key)
        r = register(world.admin("a"), idp, "a-idp", "a.example", "atlas-a",
                     roleMapping={"claim": "groups", "values": {"atlas-admins": "admin"}})
        assert r.status_code == 200, r.get_json()
        token = r.get_json()["domainVerificationToken"]
        dns_zone.RECORDS["_better-auth-token-a-idp.a.example"] = [f"_better-auth-token-a-idp={token}"]
        assert world.admin("a").post("/api/auth/sso/verify-domain", json={"providerId": "a-idp"}).status_code == 204
        r = register(world.admin("b"), idp, "b-idp", "b.example", "atlas-b")
        assert r.status_code == 200, r.get_json()
        platform = orgs.user("b", "owner")
        with psycopg.connect(orgs.db.admin_url, autocommit=True) as conn:
            conn.execute("UPDATE users SET platform_role = 'admin' WHERE id = %s", (platform.user_id,))
        r = platform.post("/api/v1/admin/sso/verify-domain", json={"providerId": "b-idp"})
        assert r.status_code == 200, r.get_json()
        yield world
        dns_zone.RECORDS.clear()


def begin(world: World, client: FlaskClient | None = None, **wanted: Any) -> tuple[FlaskClient, Any]:
    client = client or anonymous(world.orgs.app)
    return client, client.post("/api/auth/sign-in/sso", json=wanted)


def sso(world: World, login: str, *, client: FlaskClient | None = None, **wanted: Any) -> tuple[FlaskClient, Any]:
    """A whole sign-in as `login` at the provider: the callback's response (the browser holds its cookies)."""
    client, r = begin(world, client, loginHint=login, **wanted)
    assert r.status_code == 200 and r.get_json()["redirect"] is True, r.get_json()
    back = world.idp.authorize(r.get_json()["url"], stop_at=CALLBACK)
    return client, client.get(path_of(back))


def session_of(world: World, token: str) -> dict:
    r = anonymous(world.orgs.app).get("/api/auth/get-session", headers={"Authorization": f"Bearer {token}"})
    return r.get_json()


# What the message of sso_token_rejected says, by the check that refused.
REASONS = {"audience": "another client (audience)", "nonce": "nonce is not this sign-in's",
           "expired": "has expired", "code": "refused the authorization code"}


def refused(r: Any, status: int, code: str, reason: str | None = None) -> None:
    """The error (upper-cased under /api/auth, as Better Auth spells codes); no session handed over."""
    body = r.get_json()
    assert r.status_code == status and body["code"].lower() == code, (r.status_code, body)
    assert "set-auth-token" not in r.headers and "better-auth.session_token" not in r.headers.get("Set-Cookie", "")
    if reason is not None:
        assert REASONS[reason] in body["message"], body


# ----- signing in ---------------------------------------------------------------------------------
def test_first_sign_in_creates_the_user_and_member_and_binds_the_session_to_the_providers_org(world: World) -> None:
    _, r = sso(world, "alice", providerId="a-idp", callbackURL="/home", newUserCallbackURL="/welcome")
    assert r.status_code == 302 and r.headers["Location"] == "/welcome", r.get_data(as_text=True)
    session = session_of(world, r.headers["set-auth-token"])
    assert session["user"]["email"] == "alice@a.example" and session["user"]["name"] == "Alice"
    assert session["session"]["activeOrganizationId"] == str(world.orgs.org_a)
    assert session["session"]["role"] == "member"
    _, again = sso(world, "alice", email="alice@a.example", callbackURL="/home", newUserCallbackURL="/welcome")
    assert again.status_code == 302 and again.headers["Location"] == "/home"  # found by the email's domain
    assert session_of(world, again.headers["set-auth-token"])["user"]["id"] == session["user"]["id"]
    assert [e[2]["newUser"] for e in world.audit("a", "sso.sign_in") if e[0] == "ok"][:2] == [True, False]


def test_the_role_claim_maps_to_admin_and_the_org_slug_finds_the_provider(world: World) -> None:
    _, r = sso(world, "boss", organizationSlug="acme")
    assert r.status_code == 302 and r.headers["Location"] == "/"
    assert session_of(world, r.headers["set-auth-token"])["session"]["role"] == "admin"


def test_an_existing_password_user_is_linked_not_duplicated(world: World) -> None:
    app = world.orgs.app
    r = anonymous(app).post("/api/auth/sign-up/email",
                            json={"email": "linked@a.example", "password": PASSWORD, "name": "Linked"})
    user_id = r.get_json()["user"]["id"]
    _, r = sso(world, "linked", providerId="a-idp")
    assert session_of(world, r.headers["set-auth-token"])["user"]["id"] == user_id


# ----- attacks: each refused, the victim org unchanged ----------------------------------------------
@pytest.mark.parametrize(("change", "reason"), [
    ({"audience": "some-other-client"}, "audience"),
    ({"nonce": "a-nonce-from-another-sign-in"}, "nonce"),
    ({"expiredBy": 600}, "expired"),
])
def test_an_id_token_for_another_client_flow_or_time_is_refused(world: World, change: dict, reason: str) -> None:
    before = world.snapshot("a")
    world.idp.misbehave_once(**change)
    _, r = sso(world, "required", providerId="a-idp")
    refused(r, 401, "sso_token_rejected", reason)
    assert world.snapshot("a") == before
    assert world.audit("a", "sso.sign_in")[-1][0] == "refused"


def test_a_replayed_callback_and_a_replayed_code_are_refused(world: World) -> None:
    client, r = begin(world, providerId="a-idp", loginHint="alice")
    back = world.idp.authorize(r.get_json()["url"], stop_at=CALLBACK)
    assert client.get(path_of(back)).status_code == 302
    refused(client.get(path_of(back)), 400, "sso_invalid_state")  # the state is good once
    code = parse_qs(urlsplit(back).query)["code"][0]
    client, r = begin(world, providerId="a-idp", loginHint="alice")  # a fresh flow, in the attacker's browser
    state = parse_qs(urlsplit(r.get_json()["url"]).query)["state"][0]
    before = world.snapshot("a")
    refused(client.get(f"/api/auth/sso/callback/a-idp?{urlencode({'code': code, 'state': state})}"),
            401, "sso_token_rejected", "code")  # the provider refuses a used code (and PKCE would too)
    assert world.snapshot("a") == before


def test_a_tampered_state_or_another_browser_is_refused(world: World) -> None:
    client, r = begin(world, providerId="a-idp", loginHint="alice")
    back = world.idp.authorize(r.get_json()["url"], stop_at=CALLBACK)
    parts = urlsplit(back)
    query = parse_qs(parts.query)
    tampered = {**{k: v[0] for k, v in query.items()}, "state": query["state"][0][:-2] + "xy"}
    before = world.snapshot("a")
    refused(client.get(f"{parts.path}?{urlencode(tampered)}"), 400, "sso_invalid_state")
    refused(anonymous(world.orgs.app).get(path_of(back)), 400, "sso_invalid_state")  # no binding cookie
    refused(client.get(path_of(back)), 400, "sso_invalid_state")  # that refusal used the flow up
    assert world.snapshot("a") == before


def test_an_email_outside_the_verified_domains_is_refused(world: World) -> None:
    before_a, before_b = world.snapshot("a"), world.snapshot("b")
    for login in ("outsider", "mallory"):  # Acme's IdP asserting a b.example user, then Globex's owner
        _, r = sso(world, login, providerId="a-idp")
        refused(r, 403, "sso_email_domain_not_allowed")
    client, r = begin(world, providerId="a-idp", email="ceo@b.example")
    refused(r, 403, "sso_email_domain_not_allowed")
    assert world.snapshot("a") == before_a and world.snapshot("b") == before_b


def test_org_a_provider_cannot_enter_org_b(world: World) -> None:
    before_b = world.snapshot("b")
    client, r = begin(world, providerId="a-idp", loginHint="bob")  # a flow begun at Acme's provider ...
    back = world.idp.authorize(r.get_json()["url"], stop_at=CALLBACK)
    refused(client.get(path_of(back).replace("/a-idp?", "/b-idp?")), 400, "sso_invalid_state")  # ... ends at Globex's
    # Acme's admin cannot take Globex's provider id (it routes callbacks), ...
    refused(register(world.admin("a"), world.idp, "b-idp", "a.example", "atlas-a"), 409, "conflict")
    # ... and claims b.example for a provider of Acme's: unproven, it routes nobody; b.example stays Globex's.
    r = register(world.admin("a"), world.idp, "a-second", "b.example", "atlas-a2")
    assert r.status_code == 200
    refused(world.admin("a").post("/api/auth/sso/verify-domain", json={"providerId": "a-second"}),
            400, "sso_domain_verification_failed")
    refused(world.admin("a").post("/api/v1/admin/sso/verify-domain", json={"providerId": "a-second"}),
            403, "forbidden")
    _, r = begin(world, providerId="a-second", loginHint="bob")
    refused(r, 403, "sso_domain_not_verified")
    _, r = sso(world, "bob", email="bob@b.example")
    assert r.status_code == 302
    assert session_of(world, r.headers["set-auth-token"])["session"]["activeOrganizationId"] == str(world.orgs.org_b)
    members, _ = world.snapshot("b")
    assert len(members) == len(before_b[0]) + 1  # bob, through Globex's own provider
    assert world.admin("a").post("/api/auth/sso/delete-provider", json={"providerId": "a-second"}).status_code == 200


def test_an_org_provider_cannot_sign_in_a_platform_admin(world: World) -> None:
    sso(world, "platform", providerId="a-idp")  # root@a.example joins as a member first
    with psycopg.connect(world.orgs.db.admin_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET platform_role = 'admin' WHERE email = 'root@a.example'")
    _, r = sso(world, "platform", providerId="a-idp")
    refused(r, 403, "sso_email_domain_not_allowed")


def test_a_refusal_goes_to_the_error_callback_url_when_one_was_given(world: World) -> None:
    _, r = sso(world, "outsider", providerId="a-idp", errorCallbackURL="/sign-in?from=sso")
    assert r.status_code == 302
    target = urlsplit(r.headers["Location"])
    assert target.path == "/sign-in" and parse_qs(target.query)["error"] == ["sso_email_domain_not_allowed"]
    assert "set-auth-token" not in r.headers


@pytest.mark.parametrize("field", ["callbackURL", "errorCallbackURL", "newUserCallbackURL"])
def test_sign_in_refuses_an_untrusted_callback_url(world: World, field: str) -> None:
    _, r = begin(world, providerId="a-idp", **{field: "https://evil.example/"})
    assert r.status_code == 403 and r.get_json()["code"].startswith("INVALID_")


# ----- the org's settings ---------------------------------------------------------------------------
def test_an_org_that_requires_sso_refuses_its_members_passwords_but_not_a_platform_admins(world: World) -> None:
    app, member = world.orgs.app, world.orgs.user("a", "member")
    r = world.admin("a").post("/api/auth/sso/update-provider", json={"providerId": "a-idp", "ssoRequired": True})
    assert r.status_code == 200 and r.get_json()["ssoRequired"] is True and r.get_json()["domainVerified"] is True
    try:
        r = anonymous(app).post("/api/auth/sign-in/email", json={"email": member.email, "password": PASSWORD})
        refused(r, 403, "sso_required")
        assert "acme" in r.get_json()["message"] and "/api/auth/sign-in/sso" in r.get_json()["message"]
        platform = world.orgs.user("b", "owner")  # a platform admin (world fixture), and not Acme's: still fine
        r = anonymous(app).post("/api/auth/sign-in/email", json={"email": platform.email, "password": PASSWORD})
        assert r.status_code == 200
    finally:
        world.admin("a").post("/api/auth/sso/update-provider", json={"providerId": "a-idp", "ssoRequired": False})
    r = anonymous(app).post("/api/auth/sign-in/email", json={"email": member.email, "password": PASSWORD})
    assert r.status_code == 200
    member.token = r.get_json()["token"]  # their password session inside Acme ended when SSO became required
    assert session_of(world, member.token)["session"]["activeOrganizationId"] == str(world.orgs.org("a"))


def test_providers_are_managed_by_admins_of_their_own_org_and_never_show_the_secret(world: World) -> None:
    member, admin_b = world.orgs.user("a", "member"), world.admin("b")
    assert member.get("/api/auth/sso/providers").status_code == 403
    assert register(member, world.idp, "x-idp", "x.example", "atlas-a").status_code == 403
    refused(admin_b.get("/api/auth/sso/get-provider?providerId=a-idp"), 404, "sso_provider_not_found")
    refused(admin_b.post("/api/auth/sso/delete-provider", json={"providerId": "a-idp"}), 404, "sso_provider_not_found")
    listed = world.admin("a").get("/api/auth/sso/providers")
    assert "secret-atlas-a" not in listed.get_data(as_text=True)
    one = next(p for p in listed.get_json()["providers"] if p["providerId"] == "a-idp")
    assert one["redirectURI"] == CALLBACK + "a-idp" and one["oidcConfig"]["clientIdLastFour"] == "****as-a"
    with psycopg.connect(world.orgs.db.admin_url) as conn:
        stored = conn.execute("SELECT client_secret FROM sso_providers WHERE provider_id = 'a-idp'").fetchone()
    assert stored is not None and "secret-atlas-a" not in stored[0]
    actions = {a for a in ("sso_provider.create", "sso_provider.verify_domain", "sso_provider.update")
               if world.audit("a", a)}
    assert actions == {"sso_provider.create", "sso_provider.verify_domain", "sso_provider.update"}
    assert world.audit("b", "sso_provider.verify_domain")[0][2]["by"] == "platform_admin"


def test_a_new_domain_list_must_be_proven_again(world: World) -> None:
    admin = world.admin("b")
    r = admin.post("/api/auth/sso/update-provider", json={"providerId": "b-idp", "domain": "b.example,b2.example"})
    assert r.status_code == 200 and r.get_json()["domainVerified"] is False
    try:
        _, r = begin(world, providerId="b-idp")
        refused(r, 403, "sso_domain_not_verified")
        r = admin.post("/api/auth/sso/request-domain-verification", json={"providerId": "b-idp"})
        records = r.get_json()["records"]
        assert [rec["name"] for rec in records] == ["_better-auth-token-b-idp.b.example",
                                                    "_better-auth-token-b-idp.b2.example"]
        dns_zone.RECORDS[records[0]["name"]] = [records[0]["value"]]  # one of two domains proven
        refused(admin.post("/api/auth/sso/verify-domain", json={"providerId": "b-idp"}),
                400, "sso_domain_verification_failed")
        dns_zone.RECORDS[records[1]["name"]] = [records[1]["value"]]
        assert admin.post("/api/auth/sso/verify-domain", json={"providerId": "b-idp"}).status_code == 204
    finally:
        admin.post("/api/auth/sso/update-provider", json={"providerId": "b-idp", "domain": "b.example"})
        world.orgs.user("b", "owner").post("/api/v1/admin/sso/verify-domain", json={"providerId": "b-idp"})




def test_key_rotation_moves_client_secrets_to_the_newest_key_and_sign_in_keeps_working(world: World) -> None:
    newer = Fernet.generate_key().decode()
    db = services(world.orgs.app).db
    for keys in ([newer, world.key], [world.key, newer]):  # to the newer key, then back to the app's
        with db.transaction(world.orgs.org_a) as scope:
            count, rotated = rotate_secrets(scope, CredentialBox(keys))
        assert count >= 1 and rotated == count
    _, r = sso(world, "alice", providerId="a-idp")
    assert r.status_code == 302 and "set-auth-token" in r.headers


def test_an_org_with_too_many_sign_ins_in_progress_refuses_more_until_they_expire(world: World) -> None:
    with psycopg.connect(world.orgs.db.admin_url, autocommit=True) as conn:
        conn.execute("INSERT INTO sso_flows (org_id, provider_id, state_hash, binding_hash, nonce, code_verifier,"
                     " expires_at) SELECT %s, 'b-idp', md5(i::text) || md5(i::text), md5(i::text) || md5(i::text),"
                     " 'n', 'v', now() + interval '10 minutes' FROM generate_series(1, %s) i",
                     (world.orgs.org_b, MAX_LIVE_FLOWS))
        try:
            _, r = begin(world, providerId="b-idp")
            assert r.status_code == 429 and r.get_json()["code"] == "SSO_TOO_MANY_SIGN_INS"
            assert r.headers["Retry-After"] == "60"
            _, r = begin(world, providerId="a-idp")  # another org is not held up
            assert r.status_code == 200
        finally:
            conn.execute("DELETE FROM sso_flows WHERE org_id = %s", (world.orgs.org_b,))
    _, r = begin(world, providerId="b-idp")
    assert r.status_code == 200
