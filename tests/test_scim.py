"""SCIM 2.0 provisioning (issue 30 item 2): scim2-tester against /scim/v2 with an org's token, and the attacks.

scim2-tester (PyPI) runs every check of its suite through scim2-client's in-process WSGI client against the real
app; every check that applies passes, and those that do not apply are listed in NOT_APPLICABLE with the reason.
The attacks: one org's token never reads or changes another org's users or groups (the victim's rows are read back
unchanged), a revoked token or one whose creator was demoted stops at once, and deactivating a user revokes their
API keys and takes the org from their sessions on the next request.
"""
from __future__ import annotations

import psycopg
import pytest
from scim2_client.engines.wsgi import WSGISCIMClient
from scim2_tester import Status, check_server

from tests.support.api import invite_and_join, sign_up, two_org_world
from tests.support.errors import error_code

SCIM = "/scim/v2"
MEDIA = "application/scim+json"
TOKENS = "/api/v1/admin/scim-tokens"
# Checks of scim2-tester that do not apply to this service, with the reason (none today).
NOT_APPLICABLE: dict[str, str] = {}


@pytest.fixture(scope="module")
def world(db_factory):
    with two_org_world(db_factory) as world:
        yield world


def _token(world, org: str) -> str:
    r = world.user(org, "admin").post(TOKENS, json={"name": f"okta {org}"})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["token"]


@pytest.fixture(scope="module")
def tokens(world):
    return {org: _token(world, org) for org in ("a", "b")}


def _scim(world, token):
    client = world.app.test_client()

    def call(method: str, path: str, json=None):  # type: ignore[no-untyped-def]
        return client.open(f"{SCIM}{path}", method=method, json=json,
                           headers={"Authorization": f"Bearer {token}", "Accept": MEDIA})
    return call


def _user(user_name: str, **extra):
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name, **extra}


def test_scim2_tester_passes_every_check_that_applies(world, tokens):
    client = WSGISCIMClient(world.app, base_url=f"http://localhost{SCIM}",
                            headers={"Authorization": f"Bearer {tokens['a']}"})
    results = check_server(client, raise_exceptions=False)
    bad = [r for r in results if r.status in (Status.ERROR, Status.CRITICAL) and r.title not in NOT_APPLICABLE]
    assert not bad, "\n".join(f"{r.resource_type} {r.title}: {r.reason}" for r in bad)
    passed = [r for r in results if r.status in (Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE)]
    assert len(passed) >= 30, [(r.title, r.status) for r in results]
    print(f"scim2-tester: {len(passed)} of {len(results)} checks passed, statuses "
          f"{sorted({r.status.name for r in results})}")


def test_a_user_is_provisioned_found_by_user_name_and_joins_the_org(world, tokens):
    scim = _scim(world, tokens["a"])
    r = scim("POST", "/Users", _user("jane@acme.example.com", name={"givenName": "Jane", "familyName": "Doe"},
                                     emails=[{"value": "jane@acme.example.com", "primary": True}], externalId="okta-1"))
    assert r.status_code == 201 and r.content_type.startswith(MEDIA), r.get_json()
    created = r.get_json()
    assert r.headers["Location"].endswith(f"/Users/{created['id']}")
    r = scim("GET", '/Users?filter=userName eq "JANE@acme.example.com"')
    assert [u["id"] for u in r.get_json()["Resources"]] == [created["id"]]
    members = world.user("a", "owner").get("/api/auth/organization/list-members").get_json()["members"]
    assert any(m["userId"] == created["id"] and m["role"] == "member" for m in members)
    r = scim("POST", "/Users", _user("jane@acme.example.com"))
    assert r.status_code == 409 and r.get_json()["scimType"] == "uniqueness"


def test_another_orgs_token_never_sees_or_changes_its_users_or_groups(world, tokens):
    victim, attacker = _scim(world, tokens["a"]), _scim(world, tokens["b"])
    person = victim("POST", "/Users", _user("victim@acme.test", displayName="Victim")).get_json()
    group = victim("POST", "/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                       "displayName": "Acme Secret", "members": [{"value": person["id"]}]}).get_json()
    listed = attacker("GET", "/Users?count=200").get_json()["Resources"]
    assert person["id"] not in {u["id"] for u in listed}
    assert all("acme" not in u["userName"] for u in listed)
    assert group["id"] not in {g["id"] for g in attacker("GET", "/Groups").get_json().get("Resources", [])}
    for method, path, body in (
            ("GET", f"/Users/{person['id']}", None),
            ("PUT", f"/Users/{person['id']}", _user("stolen@evil.test", active=False)),
            ("PATCH", f"/Users/{person['id']}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                                 "Operations": [{"op": "replace", "path": "active", "value": False}]}),
            ("DELETE", f"/Users/{person['id']}", None),
            ("GET", f"/Groups/{group['id']}", None),
            ("PUT", f"/Groups/{group['id']}", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                               "displayName": "Stolen", "members": []}),
            ("DELETE", f"/Groups/{group['id']}", None)):
        r = attacker(method, path, body)
        assert r.status_code == 404 and r.get_json()["status"] == "404", (method, path, r.get_json())
    # a group of the attacker's own naming the victim's user cannot pull them in
    r = attacker("POST", "/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                     "displayName": "Lure", "members": [{"value": person["id"]}]})
    assert r.status_code == 400
    # the victim's rows, unchanged
    again = victim("GET", f"/Users/{person['id']}").get_json()
    assert again["userName"] == "victim@acme.test" and again.get("active", True) is True
    assert victim("GET", f"/Groups/{group['id']}").get_json()["displayName"] == "Acme Secret"
    assert [m["value"] for m in victim("GET", f"/Groups/{group['id']}").get_json()["members"]] == [person["id"]]


def test_another_orgs_token_cannot_pull_an_existing_account_in_unless_the_org_proved_its_domain(world, tokens):
    """Linking an account someone already has makes them a member of the org: only for a proven domain."""
    person = sign_up(world.app, "ceo@initech.test")
    attacker = _scim(world, tokens["b"])
    r = attacker("POST", "/Users", _user("ceo@initech.test", displayName="Lured"))
    assert r.status_code == 409 and r.get_json()["scimType"] == "uniqueness", r.get_json()
    assert "initech.test is not a verified domain" in r.get_json()["detail"]
    # the person is in no org, and org B keeps no SCIM record of them
    assert person.get("/api/auth/organization/list").get_json() == []
    assert person.user_id not in {u["id"] for u in attacker("GET", "/Users?count=200").get_json()["Resources"]}
    # once org B proves initech.test (its SSO provider's verified domain), its provider may link the account
    with psycopg.connect(world.db.admin_url, autocommit=True) as conn:
        conn.execute("INSERT INTO sso_providers (org_id, provider_id, issuer, client_id, client_secret, domains,"
                     " domain_verified, verification_token) VALUES (%s, 'initech', 'https://idp.initech.test',"
                     " 'atlas', 'not-a-secret', ARRAY['initech.test'], true, 'token-of-the-test')", (world.org_b,))
    try:
        r = attacker("POST", "/Users", _user("ceo@initech.test"))
        assert r.status_code == 201 and r.get_json()["id"] == str(person.user_id), r.get_json()
        assert [o["id"] for o in person.get("/api/auth/organization/list").get_json()] == [str(world.org_b)]
    finally:
        with psycopg.connect(world.db.admin_url, autocommit=True) as conn:
            conn.execute("DELETE FROM sso_providers WHERE provider_id = 'initech'")


def test_deactivating_a_user_revokes_their_sessions_and_api_keys_in_the_org_at_once(world, tokens):
    scim = _scim(world, tokens["a"])
    owner = world.user("a", "owner")
    worker = sign_up(world.app, "worker@acme.test")
    invite_and_join(owner, worker, "admin")
    key = worker.post("/api/v1/admin/api-keys", json={"name": "ci", "role": "member"})
    assert key.status_code == 201, key.get_json()
    key_headers = {"Authorization": f"Bearer {key.get_json()['key']}"}
    assert world.app.test_client().get("/api/v1/conversations", headers=key_headers).status_code == 200
    assert worker.get("/api/v1/conversations").status_code == 200

    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations": [{"op": "replace", "path": "active", "value": False}]}
    r = scim("PATCH", f"/Users/{worker.user_id}", patch)
    assert r.status_code == 200 and r.get_json()["active"] is False, r.get_json()
    assert world.app.test_client().get("/api/v1/conversations", headers=key_headers).status_code == 401
    assert worker.get("/api/v1/conversations").status_code == 401  # the session bound to the org is revoked
    keys = owner.get("/api/v1/admin/api-keys").get_json()["data"]
    assert all(k["revokedAt"] for k in keys if k["name"] == "ci")
    # still listed, inactive; reactivating makes them a member again (their keys stay revoked)
    assert scim("GET", f"/Users/{worker.user_id}").get_json()["active"] is False
    patch["Operations"][0]["value"] = True
    assert scim("PATCH", f"/Users/{worker.user_id}", patch).status_code == 200
    assert world.app.test_client().get("/api/v1/conversations", headers=key_headers).status_code == 401


def test_roles_map_to_the_member_role_and_owners_are_out_of_scims_reach(world, tokens):
    scim = _scim(world, tokens["a"])
    created = scim("POST", "/Users", _user("lead@acme.test", roles=[{"value": "admin"}])).get_json()
    members = world.user("a", "owner").get("/api/auth/organization/list-members").get_json()["members"]
    assert {m["userId"]: m["role"] for m in members}[created["id"]] == "admin"
    r = scim("POST", "/Users", _user("boss@acme.test", roles=[{"value": "owner"}]))
    assert r.status_code == 400
    owner_id = str(world.user("a", "owner").user_id)
    r = scim("PUT", f"/Users/{owner_id}", _user("owner@acme.test", active=False))
    assert r.status_code == 403
    assert scim("DELETE", f"/Users/{owner_id}").status_code == 403


def test_a_revoked_token_or_a_demoted_creator_stops_at_once(world):
    admin, owner = world.user("a", "admin"), world.user("a", "owner")
    created = admin.post(TOKENS, json={"name": "short-lived"}).get_json()
    scim = _scim(world, created["token"])
    assert scim("GET", "/Users").status_code == 200
    assert admin.delete(f"{TOKENS}/{created['id']}").status_code == 204
    r = scim("GET", "/Users")
    assert r.status_code == 401 and r.get_json()["status"] == "401"
    second = _scim(world, admin.post(TOKENS, json={"name": "demoted"}).get_json()["token"])
    assert second("GET", "/Users").status_code == 200
    change = {"memberId": str(admin.member_id)}
    assert owner.post("/api/auth/organization/update-member-role", json={**change, "role": "member"}).status_code == 200
    try:
        assert second("GET", "/Users").status_code == 401
    finally:
        owner.post("/api/auth/organization/update-member-role", json={**change, "role": "admin"})
    assert _scim(world, "scim_" + "0" * 32 + "_" + "x" * 43)("GET", "/Users").status_code == 401


def test_tokens_are_for_owners_and_admins_and_are_audited(world):
    r = world.user("a", "member").post(TOKENS, json={"name": "mine"})
    assert r.status_code == 403 and error_code(r) == "forbidden"
    listed = world.user("a", "owner").get(TOKENS).get_json()["data"]
    assert listed and all("token" not in t for t in listed)
    entries = world.user("a", "owner").get("/api/v1/admin/audit", query_string={"limit": 100}).get_json()["data"]
    actions = {e["action"] for e in entries}
    assert {"scim_token.create", "scim.user_create"} <= actions
