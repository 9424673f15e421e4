"""Holes closed after SSO landed: a password session entering an SSO-only org, and SSRF through an issuer URL.

The world is tests/test_sso_oidc.py's (a real oidc-provider; Acme's `a-idp` for
a.example, Globex's `b-idp` for b.example). Each attack is refused and leaves the
victim org's members, invitations and sessions as they were.
"""
from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from app.errors.sign_in import SsoProviderAddressRefusedError
from app.sso import egress, oidc
from tests import test_sso_oidc
from tests.support.api import PASSWORD, ApiUser, anonymous, close_app, make_app
from tests.test_sso_oidc import World, refused, session_of, sso

world = test_sso_oidc.world  # its module fixture: one provider and two orgs for this module

SETTING = "ATLAS_SSO_ALLOW_HTTP_ISSUERS"


def require_sso(world: World, required: bool) -> None:
    r = world.admin("a").post("/api/auth/sso/update-provider", json={"providerId": "a-idp", "ssoRequired": required})
    assert r.status_code == 200 and r.get_json()["ssoRequired"] is required, r.get_json()


def join(world: World, org: str, user_id: Any) -> None:
    with psycopg.connect(world.orgs.db.admin_url, autocommit=True) as conn:
        conn.execute("INSERT INTO members (org_id, user_id, role) VALUES (%s, %s, 'member') ON CONFLICT DO NOTHING",
                     (world.orgs.org(org), user_id))


def sessions_in(world: World, org: str, user_id: Any) -> int:
    with psycopg.connect(world.orgs.db.admin_url) as conn:
        row = conn.execute("SELECT count(*) FROM sessions WHERE active_org_id = %s AND user_id = %s",
                           (world.orgs.org(org), user_id)).fetchone()
    assert row is not None
    return int(row[0])


def bearer(world: World, token: str) -> ApiUser:
    r = session_of(world, token)
    return ApiUser(client=anonymous(world.orgs.app), token=token, user_id=uuid.UUID(r["user"]["id"]),
                   email=r["user"]["email"])


def switch(user: ApiUser, org_id: Any) -> Any:
    return user.post("/api/auth/organization/set-active", json={"organizationId": str(org_id)})


# ----- entering an org that requires SSO ------------------------------------------------------------
def test_a_password_session_cannot_set_active_into_an_org_that_requires_sso(world: World) -> None:
    globex_member, acme = world.orgs.user("b", "member"), world.orgs.org("a")
    join(world, "a", globex_member.user_id)  # a member of Acme too, signed in by password at Globex
    before = world.snapshot("a")
    require_sso(world, True)
    try:
        refused(switch(globex_member, acme), 403, "sso_required")
        assert sessions_in(world, "a", globex_member.user_id) == 0 and world.snapshot("a") == before
        # The refused session was not consumed: it still works, still in Globex.
        assert session_of(world, globex_member.token)["session"]["activeOrganizationId"] == str(world.orgs.org_b)
        # A session born of another org's provider is no way in either.
        _, r = sso(world, "bob", providerId="b-idp")
        bob = bearer(world, r.headers["set-auth-token"])
        join(world, "a", bob.user_id)
        refused(switch(bob, acme), 403, "sso_required")
        assert sessions_in(world, "a", bob.user_id) == 0
        # Platform admins pass, as at sign-in (Globex's owner is one, see the world fixture).
        platform = world.orgs.user("b", "owner")
        join(world, "a", platform.user_id)
        r = switch(platform, acme)
        assert r.status_code == 200, r.get_json()
        platform.token = r.headers["set-auth-token"]
        platform.set_active(world.orgs.org_b)
    finally:
        require_sso(world, False)
    r = switch(globex_member, acme)  # once SSO is optional again, the same session may switch
    assert r.status_code == 200, r.get_json()
    globex_member.token = r.headers["set-auth-token"]
    globex_member.set_active(world.orgs.org_b)


def test_a_session_of_the_orgs_own_provider_keeps_its_way_in_across_switches(world: World) -> None:
    _, r = sso(world, "alice", providerId="a-idp")
    alice = bearer(world, r.headers["set-auth-token"])
    join(world, "b", alice.user_id)
    require_sso(world, True)
    try:
        alice.set_active(world.orgs.org_b)  # Globex does not require SSO
        alice.set_active(world.orgs.org("a"))  # back: the new session inherited sso at Acme's a-idp
        with psycopg.connect(world.orgs.db.admin_url) as conn:
            row = conn.execute("SELECT auth_method FROM sessions WHERE user_id = %s AND revoked_at IS NULL",
                               (alice.user_id,)).fetchone()
        assert row is not None and row[0] == f"sso:{world.orgs.org('a')}/a-idp"
    finally:
        require_sso(world, False)


def test_requiring_sso_ends_the_password_sessions_already_inside_the_org_at_once(world: World) -> None:
    """Not at each member's next switch: a session the org no longer admits stops on its very next request."""
    acme = world.orgs.org("a")
    inside = bearer(world, _password_session(world, "a", "member"))
    _, r = sso(world, "alice", providerId="a-idp")
    alice = bearer(world, r.headers["set-auth-token"])  # Alice, her session born of Acme's own provider
    platform = world.orgs.user("b", "owner")  # a platform admin (the world fixture)
    join(world, "a", platform.user_id)
    r = switch(platform, acme)
    assert r.status_code == 200, r.get_json()
    platform_inside = bearer(world, r.headers["set-auth-token"])
    for user in (inside, alice, platform_inside):
        assert user.get("/api/v1/contacts").status_code == 200
    require_sso(world, True)
    try:
        assert inside.get("/api/v1/contacts").status_code == 401  # ended at once
        assert alice.get("/api/v1/contacts").status_code == 200
        assert platform_inside.get("/api/v1/contacts").status_code == 200
        assert world.admin("a").get("/api/v1/contacts").status_code == 200  # the admin who turned it on, spared
        (outcome, _, detail), *_ = world.audit("a", "sso.sessions_ended")[-1:]
        assert outcome == "ok" and detail["sessions"] >= 1, detail
    finally:
        require_sso(world, False)
    assert inside.get("/api/v1/contacts").status_code == 401  # ended stays ended


def _password_session(world: World, org: str, role: str) -> str:
    """A fresh password session of `org`'s `role` user, bound to `org` (sign-in lands in the org used last)."""
    user = world.orgs.user(org, role)
    r = anonymous(world.orgs.app).post("/api/auth/sign-in/email", json={"email": user.email, "password": PASSWORD})
    assert r.status_code == 200, r.get_json()
    token = r.get_json()["token"]
    assert session_of(world, token)["session"]["activeOrganizationId"] == str(world.orgs.org(org))
    return str(token)


def test_a_password_session_cannot_accept_an_invitation_into_an_org_that_requires_sso(world: World) -> None:
    invitee = world.orgs.user("b", "admin")
    require_sso(world, True)
    try:
        r = world.admin("a").post("/api/auth/organization/invite-member", json={"email": invitee.email,
                                                                               "role": "member"})
        assert r.status_code == 200, r.get_json()
        invitation = r.get_json()["id"]
        before = world.snapshot("a")
        refused(invitee.post("/api/auth/organization/accept-invitation", json={"invitationId": invitation}),
                403, "sso_required")
        assert world.snapshot("a") == before and sessions_in(world, "a", invitee.user_id) == 0
        with psycopg.connect(world.orgs.db.admin_url) as conn:
            status = conn.execute("SELECT status FROM invitations WHERE id = %s", (invitation,)).fetchone()
        assert status is not None and status[0] == "pending"
    finally:
        require_sso(world, False)


# ----- SSRF: identity provider URLs on private addresses ------------------------------------------------
@pytest.mark.parametrize("issuer", ["https://127.0.0.1:9", "https://10.1.2.3", "https://169.254.169.254",
                                    "https://[::1]:9", "https://localhost:9", "https://[::ffff:127.0.0.1]",
                                    "https://0.0.0.0", "https://100.64.0.1", "https://224.0.0.1"])
def test_discovery_refuses_issuers_on_non_public_addresses(issuer: str) -> None:
    with pytest.raises(SsoProviderAddressRefusedError, match=SETTING):
        oidc.discover(issuer, timeout_s=2)


def test_public_addresses_pass_the_address_check() -> None:
    assert egress.refusal("93.184.215.14") is None and egress.refusal("2606:4700::1111") is None
    assert egress.refusal("64:ff9b::a00:1") == "private"  # NAT64 of 10.0.0.1


def test_every_url_the_discovery_document_names_is_checked_when_it_is_fetched(world: World) -> None:
    """A live provider on 127.0.0.1 is refused at connect time; so are its token, JWKS and userinfo URLs."""
    with pytest.raises(SsoProviderAddressRefusedError, match=SETTING):
        oidc.discover(world.idp.issuer, timeout_s=2)
    live = oidc.discover(world.idp.issuer, timeout_s=2, allow_private=True)  # the test-only setting lifts it
    guarded = oidc.Endpoints(issuer=live.issuer, authorization_endpoint=live.authorization_endpoint,
                             token_endpoint=live.token_endpoint, jwks_uri=live.jwks_uri,
                             userinfo_endpoint=live.userinfo_endpoint or f"{live.issuer}/me")
    with pytest.raises(SsoProviderAddressRefusedError):
        oidc.verify_id_token("x.y.z", endpoints=guarded, client_id="atlas-a", nonce="n", leeway_s=5, timeout_s=2)
    with pytest.raises(SsoProviderAddressRefusedError):
        oidc.exchange_code(guarded, client_id="atlas-a", client_secret="secret-atlas-a", redirect_uri="http://x/cb",
                           code="c", code_verifier="v" * 43, timeout_s=2)
    with pytest.raises(SsoProviderAddressRefusedError):
        oidc.userinfo(guarded, access_token="t", timeout_s=2)


@pytest.mark.parametrize("issuer", ["https://169.254.169.254", "https://127.0.0.1:9", "https://[::1]:9"])
def test_registering_a_provider_on_a_private_address_is_refused_naming_the_setting(world: World, issuer: str) -> None:
    app = make_app(world.orgs.db, connection_keys=world.key)  # ATLAS_SSO_ALLOW_HTTP_ISSUERS unset
    try:
        admin = world.admin("a")
        r = app.test_client().post("/api/auth/sso/register", headers={"Authorization": f"Bearer {admin.token}"},
                                   json={"providerId": "ssrf", "issuer": issuer, "domain": "a.example",
                                         "oidcConfig": {"clientId": "c", "clientSecret": "s"}})
        assert r.status_code == 400 and SETTING in r.get_json()["message"], r.get_json()
        assert "issuer" in r.get_json()["message"]
    finally:
        close_app(app)
    with psycopg.connect(world.orgs.db.admin_url) as conn:
        assert conn.execute("SELECT count(*) FROM sso_providers WHERE provider_id = 'ssrf'").fetchone() == (0,)
