"""Org-scoped API keys: created by admins and owners, shown once, stored hashed, bound to one org and a role
never above the creator's, usable wherever a session token is, revoked at once, and named in the audit trail.

Every request goes through the real app (Flask's client, bearer header) on a database of this module's own;
attacks from org A's key on org B check that B's rows are unchanged afterwards. Every test runs twice: with
Acme in the shared database, and with Acme moved to a database of its own (docs/placement.md), Globex staying
in the shared one; tests/test_placement_keys.py covers keys during a move and after a killed one.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from app.auth import api_keys
from tests.support.api import ApiUser, TwoOrgs, sign_up, two_org_world
from tests.support.api_module import org_snapshot
from tests.support.errors import error_code, error_of
from tests.support.placement import CACHE_S, atlas

KEYS = "/api/v1/admin/api-keys"
PLACEMENTS = ("shared", "dedicated")


@contextmanager
def placed_world(db_factory, placement: str) -> Iterator[TwoOrgs]:
    """Acme and Globex; with "dedicated", Acme moved to an empty database of its own first."""
    with two_org_world(db_factory, placement_cache_s=CACHE_S) as world:
        if placement == "shared":
            world.homes = {"a": world.db.admin_url, "b": world.db.admin_url}  # type: ignore[attr-defined]
            yield world
            return
        dedicated = db_factory.empty()
        try:
            moved = atlas(world.db, "org", "move", "acme", "--to", dedicated.admin_url)
            assert moved.returncode == 0, moved.stdout + moved.stderr
            world.homes = {"a": dedicated.admin_url, "b": world.db.admin_url}  # type: ignore[attr-defined]
            time.sleep(CACHE_S * 2 + 0.1)
            yield world
        finally:
            db_factory.drop(dedicated.name)


@pytest.fixture(scope="module", params=PLACEMENTS)
def world(db_factory, request) -> Iterator[TwoOrgs]:
    with placed_world(db_factory, request.param) as world:
        yield world


def home(world: TwoOrgs, org: str) -> str:
    """The admin URL of the database that holds `org`'s placed rows."""
    return world.homes[org]  # type: ignore[attr-defined,no-any-return]


def as_key(world: TwoOrgs, secret: str) -> ApiUser:
    """A client that presents `secret` as its bearer token."""
    return ApiUser(client=world.app.test_client(), token=secret, user_id=uuid.uuid4(), email="key@machine")


def new_key(world: TwoOrgs, org: str = "a", creator: str = "admin", role: str = "member", **extra) -> dict:
    r = world.user(org, creator).post(KEYS, json={"name": f"{role} key", "role": role, **extra})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def audit_entries(world: TwoOrgs, org_id: uuid.UUID, action: str) -> list[dict]:
    with psycopg.connect(home(world, "a" if org_id == world.org_a else "b")) as conn:
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        return cur.execute("SELECT * FROM audit_log WHERE org_id = %s AND action = %s ORDER BY occurred_at",
                           (org_id, action)).fetchall()


def test_the_secret_is_shown_once_and_stored_only_as_a_hash(world):
    created = new_key(world)
    secret = created["key"]
    assert secret.startswith("atlas_") and api_keys.org_of(secret) == world.org_a
    listed = world.user("a", "owner").get(KEYS).get_json()["data"]
    mine = next(k for k in listed if k["id"] == created["id"])
    assert "key" not in mine and secret not in str(listed) and secret.startswith(mine["start"])
    for url in {world.db.admin_url, home(world, "a")}:
        with psycopg.connect(url) as conn:
            dump = str(conn.execute("SELECT * FROM api_keys").fetchall())
        assert secret not in dump and secret.split("_", 2)[2] not in dump  # atlas_<org hex>_<random>: the random part may hold "_"


def test_a_key_is_a_bearer_token_with_its_org_and_role(world):
    key = new_key(world, role="member")
    machine = as_key(world, key["key"])
    session = machine.get("/api/auth/get-session").get_json()
    assert session["session"]["activeOrganizationId"] == str(world.org_a)
    assert session["session"]["role"] == "member" and session["user"]["email"] == "admin@acme.test"
    assert machine.get("/api/v1/contacts").status_code == 200
    assert machine.get("/api/v1/settings").status_code == 200
    assert machine.patch("/api/v1/settings", json={"queryRowLimit": 10}).status_code == 403  # member key


@pytest.mark.parametrize("creator,role,status", [
    ("member", "member", 403), ("admin", "owner", 403), ("admin", "admin", 201), ("owner", "owner", 201)])
def test_only_admins_and_owners_create_keys_and_never_above_their_own_role(world, creator, role, status):
    r = world.user("b", creator).post(KEYS, json={"name": "k", "role": role})
    assert r.status_code == status, r.get_json()
    if status == 403:
        assert error_code(r) == "forbidden"


def test_bad_bodies_are_400_with_fields(world):
    admin = world.user("a", "admin")
    for body, field in (({"role": "member"}, "name"), ({"name": "k", "role": "god"}, "role"),
                        ({"name": "k", "role": "member", "expiresAt": "2001-01-01T00:00:00Z"}, "expiresAt"),
                        ({"name": "k", "role": "member", "expiresAt": "soon"}, "expiresAt")):
        r = admin.post(KEYS, json=body)
        assert r.status_code == 400 and field in error_of(r)["fields"], r.get_json()


def test_revocation_stops_the_next_request(world):
    key = new_key(world)
    machine = as_key(world, key["key"])
    assert machine.get("/api/v1/contacts").status_code == 200
    r = world.user("a", "owner").delete(f"{KEYS}/{key['id']}")
    assert r.status_code == 200 and r.get_json()["revokedAt"]
    r = machine.get("/api/v1/contacts")
    assert r.status_code == 401 and error_code(r) == "unauthorized"
    assert "API key" in r.get_json()["message"]  # not "sign in first": a machine has no session to renew
    assert [e["entity_id"] for e in audit_entries(world, world.org_a, "api_key.revoke")][-1] == key["id"]


def test_an_expired_key_is_refused(world):
    key = new_key(world, expiresAt="2999-01-01T00:00:00Z")
    machine = as_key(world, key["key"])
    assert machine.get("/api/v1/contacts").status_code == 200
    with psycopg.connect(home(world, "a"), autocommit=True) as conn:
        conn.execute("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = %s", (key["id"],))
    assert machine.get("/api/v1/contacts").status_code == 401


def test_a_key_follows_its_creators_membership(world, db_factory, request):
    """Demoting the creator lowers the key's role; removing the creator stops the key."""
    with placed_world(db_factory, request.node.callspec.params["world"]) as own:
        owner, admin = own.user("a", "owner"), own.user("a", "admin")
        machine = as_key(own, new_key(own, creator="admin", role="admin")["key"])
        assert machine.get("/api/v1/admin/audit").status_code == 200
        r = owner.post("/api/auth/organization/update-member-role",
                       json={"memberId": str(admin.member_id), "role": "member"})
        assert r.status_code == 200, r.get_json()
        assert machine.get("/api/auth/get-session").get_json()["session"]["role"] == "member"
        assert machine.get("/api/v1/admin/audit").status_code == 403
        r = owner.post("/api/auth/organization/remove-member", json={"memberIdOrEmail": admin.email})
        assert r.status_code == 200, r.get_json()
        assert machine.get("/api/v1/contacts").status_code == 401


def test_every_write_with_a_key_is_attributed_to_the_key_and_its_creator(world):
    key = new_key(world, creator="owner", role="admin")
    machine = as_key(world, key["key"])
    r = machine.post("/api/v1/contacts", json={"first_name": "Key", "last_name": "Made"})
    assert r.status_code == 201, r.get_json()
    entry = next(e for e in audit_entries(world, world.org_a, "contact.create")
                 if e["entity_id"] == r.get_json()["id"])
    assert entry["api_key_id"] == uuid.UUID(key["id"])
    assert entry["actor_user_id"] == world.user("a", "owner").user_id
    listed = world.user("a", "owner").get("/api/v1/admin/audit?action=contact.create").get_json()["data"]
    assert key["id"] in {e["api_key_id"] for e in listed}


def test_org_a_key_cannot_reach_org_b(world):
    """B's rows by id are 404 like missing ones; naming B is refused and audited with the key; B unchanged."""
    machine = as_key(world, new_key(world, creator="owner", role="owner")["key"])
    created = world.user("b", "member").post("/api/v1/contacts", json={"first_name": "B", "last_name": "Only"})
    their_id = created.get_json()["id"]
    before = org_snapshot(world.db.admin_url, world.org_b)
    assert machine.get(f"/api/v1/contacts/{their_id}").status_code == 404
    assert machine.delete(f"/api/v1/contacts/{their_id}").status_code == 404
    r = machine.post("/api/auth/organization/delete", json={"organizationId": str(world.org_b)})
    assert r.status_code == 403 and error_code(r) == "CROSS_ORG_REFUSED"
    assert their_id not in str(machine.get("/api/v1/contacts?limit=200").get_json())
    assert org_snapshot(world.db.admin_url, world.org_b) == before
    refused = audit_entries(world, world.org_a, "cross_org.refused")
    assert refused and refused[-1]["api_key_id"] is not None


def test_a_forged_key_naming_another_org_resolves_to_nothing(world):
    secret = new_key(world)["key"]
    forged = secret.replace(world.org_a.hex, world.org_b.hex)
    for token in (forged, "atlas_", "atlas_" + "z" * 32 + "_x", "atlas_" + world.org_a.hex + "_", secret + "x"):
        r = as_key(world, token).get("/api/v1/contacts")
        assert r.status_code == 401, (token, r.get_json())


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/api/auth/organization/set-active", {"organizationId": None}),
    ("POST", "/api/auth/organization/create", {"name": "Keyco", "slug": "keyco"}),
    ("GET", "/api/auth/organization/list", None),
    ("POST", "/api/auth/organization/leave", {}),
    ("POST", KEYS, {"name": "child", "role": "member"}),
    ("POST", "/api/auth/update-user", {"name": "Renamed by a key"}),
    ("POST", "/api/auth/change-password", {"currentPassword": "x" * 12, "newPassword": "y" * 12}),
    ("GET", "/api/auth/list-sessions", None),
    ("POST", "/api/auth/revoke-sessions", {}),
    ("POST", "/api/auth/revoke-other-sessions", {}),
    ("POST", "/api/auth/revoke-session", {"token": "x"}),
    ("GET", "/api/auth/organization/list-user-invitations", None),
    ("POST", "/api/auth/organization/reject-invitation", {"invitationId": "00000000-0000-4000-8000-000000000000"}),
])
def test_a_key_cannot_switch_orgs_act_on_the_persons_account_or_mint_keys(world, method, path, body):
    machine = as_key(world, new_key(world, creator="owner", role="owner")["key"])
    r = machine.client.open(path, method=method, json=body, headers={"Authorization": f"Bearer {machine.token}"})
    expected = "API_KEY_NOT_ALLOWED" if path.startswith("/api/auth/") else "api_key_not_allowed"  # Better Auth's case
    assert r.status_code == 403 and error_code(r) == expected, r.get_json()
    assert machine.get("/api/auth/get-session").get_json()["session"]["activeOrganizationId"] == str(world.org_a)


def test_a_key_of_a_platform_admin_carries_no_platform_powers(world):
    owner = world.user("a", "owner")
    machine = as_key(world, new_key(world, creator="owner", role="owner")["key"])
    with psycopg.connect(world.db.admin_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET platform_role = 'admin' WHERE id = %s", (owner.user_id,))
    try:
        assert owner.get("/api/v1/admin/organizations").status_code == 200
        assert machine.get("/api/v1/admin/organizations").status_code == 403
    finally:
        with psycopg.connect(world.db.admin_url, autocommit=True) as conn:
            conn.execute("UPDATE users SET platform_role = 'user' WHERE id = %s", (owner.user_id,))


def test_revoking_another_orgs_key_is_404_and_leaves_it_working(world):
    b_key = new_key(world, org="b", creator="owner")
    r = world.user("a", "owner").delete(f"{KEYS}/{b_key['id']}")
    assert r.status_code == 404
    assert world.user("a", "owner").delete(f"{KEYS}/not-an-id").status_code == 404
    assert as_key(world, b_key["key"]).get("/api/v1/contacts").status_code == 200
    assert b_key["id"] not in str(world.user("a", "owner").get(KEYS).get_json())


def test_sign_up_is_unaffected(world):
    assert sign_up(world.app, "fresh@keys.test").token
