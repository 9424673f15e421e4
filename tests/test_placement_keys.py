"""API keys of an org that moves: resolved where the org lives at every step, revocation binding throughout.

One world for the module: Acme moves to a database of its own and home again, paused (and killed) at
every step of `atlas org move`; Globex stays in the shared database and is the victim of every
cross-org attempt. At each step the same checks run (`check_keys`): a key made before the move keeps
working (issue 24 item 3: after the clean-up every key of a moved org answered 401), a key revoked
earlier stays refused, and, whenever the org takes writes, a key revoked now is refused on its very
next request (item 1: the shared database's stale copy kept authenticating after the switch, for
good when the mover died there). A key never reaches the other org, and the other org's rows and keys
are unchanged.
"""
from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
import pytest

from app.devdb import databases
from app.devdb.databases import DatabaseFactory
from app.http.context import services
from app.oauth import grants
from app.oauth.clients import Client
from app.placement.locations import location_of
from tests.support.api import ApiUser, TwoOrgs, two_org_world
from tests.support.api_module import org_snapshot
from tests.support.errors import error_code
from tests.support.placement import CACHE_S, atlas, placement_of, start_paused

KEYS = "/api/v1/admin/api-keys"
QUERY = {"sql": "SELECT 1 AS one"}
# (step paused at, does the org take writes there): the move to a dedicated database, then home.
TO_DEDICATED = (("started", True), ("migrated", True), ("copied", True), ("held", False), ("verified", False),
                ("switched", True), ("cleaned", True))
HOME = (("copied", True), ("held", False), ("marked", False), ("switched", True))


@dataclass
class Keys:
    """Acme's keys made before the move, each spent (revoked) at one step, and the ones revoked so far."""

    live: dict = field(default_factory=dict)  # a key that is never revoked
    spare: list[dict] = field(default_factory=list)
    revoked: list[dict] = field(default_factory=list)
    globex: dict = field(default_factory=dict)
    globex_contact: str = ""


@pytest.fixture(scope="module")
def world(db_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoOrgs]:
    with two_org_world(db_factory, placement_cache_s=CACHE_S,
                       semantic_root=str(tmp_path_factory.mktemp("semantic"))) as built:
        yield built


@pytest.fixture(scope="module")
def dedicated(db_factory: DatabaseFactory) -> Iterator[databases.TestDatabase]:
    db = db_factory.empty()
    yield db
    db_factory.drop(db.name)


def as_key(world: TwoOrgs, secret: str) -> ApiUser:
    return ApiUser(client=world.app.test_client(), token=secret, user_id=uuid.uuid4(), email="key@machine")


def new_key(world: TwoOrgs, org: str = "a", role: str = "member") -> dict:
    r = world.user(org, "admin").post(KEYS, json={"name": f"{role} key", "role": role})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def wait_for_caches() -> None:
    import time

    time.sleep(CACHE_S * 2 + 0.1)


def kill(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def works(world: TwoOrgs, key: dict, *, writes: bool = True) -> None:
    machine = as_key(world, key["key"])
    r = machine.get("/api/v1/contacts")
    assert r.status_code == 200, r.get_json()
    r = machine.post("/api/v1/query", json=QUERY)
    # The query records its use (the rate log): while the org's writes are held that may be a 503, never a 401.
    assert r.status_code == 200 or (not writes and r.status_code == 503 and error_code(r) == "org_moving"), \
        r.get_json()


def refused(world: TwoOrgs, key: dict) -> None:
    machine = as_key(world, key["key"])
    for r in (machine.get("/api/v1/contacts"), machine.post("/api/v1/query", json=QUERY)):
        assert r.status_code == 401 and error_code(r) == "unauthorized", r.get_json()


def check_keys(world: TwoOrgs, keys: Keys, *, writes: bool, where: str) -> None:
    """Every property of keys at one step of a move (or before, after, between moves)."""
    wait_for_caches()
    works(world, keys.live, writes=writes)
    for key in keys.revoked:
        refused(world, key)
    owner = world.user("a", "owner")
    if writes:
        spent = keys.spare.pop()
        r = owner.delete(f"{KEYS}/{spent['id']}")
        assert r.status_code == 200 and r.get_json()["revokedAt"], (where, r.get_json())
        listed = {k["id"]: k for k in owner.get(KEYS).get_json()["data"]}
        assert listed[spent["id"]]["revokedAt"]
        refused(world, spent)  # the reproduction of item 1: 200 on main after the switch
        keys.revoked.append(spent)
        fresh = new_key(world)
        works(world, fresh)
        assert owner.delete(f"{KEYS}/{fresh['id']}").status_code == 200
        refused(world, fresh)
        keys.revoked.append(fresh)
    else:
        r = world.user("a", "admin").post(KEYS, json={"name": "while held", "role": "member"})
        assert r.status_code == 503 and error_code(r) == "org_moving", r.get_json()
        assert owner.get(KEYS).status_code == 200  # reads go on
    # Never across orgs: Acme's key does not see Globex's contact, a forged key naming Globex is nothing.
    machine = as_key(world, keys.live["key"])
    assert machine.get(f"/api/v1/contacts/{keys.globex_contact}").status_code == 404
    forged = keys.live["key"].replace(world.org_a.hex, world.org_b.hex)
    assert as_key(world, forged).get("/api/v1/contacts").status_code == 401
    works(world, keys.globex)


def test_keys_resolve_where_the_org_lives_at_every_step_of_a_move_and_after_a_killed_one(
        world: TwoOrgs, dedicated: databases.TestDatabase) -> None:
    shared = world.db
    contact = world.user("b", "member").post("/api/v1/contacts", json={"first_name": "B", "last_name": "Only"})
    keys = Keys(live=new_key(world), spare=[new_key(world) for _ in range(len(TO_DEDICATED) + len(HOME) + 2)],
                globex=new_key(world, "b"), globex_contact=contact.get_json()["id"])
    before_b = org_snapshot(shared.admin_url, world.org_b)
    check_keys(world, keys, writes=True, where="shared")

    for step, writes in TO_DEDICATED:  # each step paused, checked, then the mover killed there
        process = start_paused(shared, step, "org", "move", "acme", "--to", dedicated.admin_url)
        try:
            check_keys(world, keys, writes=writes, where=f"paused at {step}")
        finally:
            kill(process)
        if step == "switched":  # the mover died after the switch: the shared copy stays until a rerun
            assert placement_of(shared, world.org_a) == location_of(dedicated.admin_url)
            check_keys(world, keys, writes=True, where="killed after the switch")
    finished = atlas(shared, "org", "move", "acme", "--to", dedicated.admin_url)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    check_keys(world, keys, writes=True, where="dedicated")  # item 3: 401 on main

    for step, writes in HOME:
        process = start_paused(shared, step, "org", "move", "acme", "--back")
        try:
            check_keys(world, keys, writes=writes, where=f"home, paused at {step}")
        finally:
            kill(process)
    home = atlas(shared, "org", "move", "acme", "--back")
    assert home.returncode == 0, home.stdout + home.stderr
    assert placement_of(shared, world.org_a) is None
    check_keys(world, keys, writes=True, where="home")
    # Globex, in the shared database throughout, is as it was but for what its own key's use recorded.
    own_use = ("api_keys", "query_rate_log", "audit_log")
    after_b = org_snapshot(shared.admin_url, world.org_b)
    assert {k: v for k, v in after_b.items() if k not in own_use} == \
        {k: v for k, v in before_b.items() if k not in own_use}
    with psycopg.connect(shared.admin_url) as conn:
        assert conn.execute("SELECT count(*) FROM api_keys WHERE org_id = %s AND revoked_at IS NOT NULL",
                            (world.org_b,)).fetchone() == (0,)


def test_a_key_of_a_dedicated_org_follows_its_creator_in_the_shared_database(
        world: TwoOrgs, dedicated: databases.TestDatabase) -> None:
    """The shared database decides membership: a lagging mirror in the dedicated one never widens a key."""
    if placement_of(world.db, world.org_a) is None:
        assert atlas(world.db, "org", "move", "acme", "--to", dedicated.admin_url).returncode == 0
    wait_for_caches()
    admin = world.user("a", "admin")
    key = new_key(world, role="admin")
    machine = as_key(world, key["key"])
    assert machine.get("/api/v1/admin/audit").status_code == 200
    with psycopg.connect(world.db.admin_url, autocommit=True) as conn:  # demoted where members live, mirror stale
        conn.execute("UPDATE members SET role = 'member' WHERE org_id = %s AND user_id = %s",
                     (world.org_a, admin.user_id))
    try:
        assert machine.get("/api/v1/admin/audit").status_code == 403
        assert machine.get("/api/auth/get-session").get_json()["session"]["role"] == "member"
    finally:
        with psycopg.connect(world.db.admin_url, autocommit=True) as conn:
            conn.execute("UPDATE members SET role = 'admin' WHERE org_id = %s AND user_id = %s",
                         (world.org_a, admin.user_id))
    assert machine.get("/api/v1/admin/audit").status_code == 200


def test_an_oauth_token_of_a_dedicated_org_stops_when_its_user_leaves_the_shared_members(
        world: TwoOrgs, dedicated: databases.TestDatabase) -> None:
    """An MCP client's token is stored with its org's rows; a lagging members mirror never keeps it alive."""
    if placement_of(world.db, world.org_a) is None:
        assert atlas(world.db, "org", "move", "acme", "--to", dedicated.admin_url).returncode == 0
    wait_for_caches()
    db, member = services(world.app).db, world.user("a", "member")
    verifier = "v" * 64
    client = Client(client_id="mcp-test-client", name="test agent", redirect_uris=("http://127.0.0.1:9/cb",))
    code = grants.issue_code(db, org_id=world.org_a, user_id=member.user_id, client=client,
                             redirect_uri="http://127.0.0.1:9/cb", code_challenge=grants.s256(verifier),
                             resource="http://127.0.0.1:9/mcp", scope="mcp", ttl_s=60)
    access = grants.exchange_code(db, code=code, client_id=client.client_id, redirect_uri="http://127.0.0.1:9/cb",
                                  verifier=verifier, resource=None,
                                  lifetimes=grants.Lifetimes(code_s=60, access_s=600, refresh_s=600))["access_token"]
    row = grants.identity_row(db, access)
    assert row is not None and row["role"] == "member" and row["user_id"] == member.user_id
    with psycopg.connect(world.db.admin_url, autocommit=True) as conn:  # removed where members live, mirror stale
        conn.execute("UPDATE members SET role = 'admin' WHERE org_id = %s AND user_id = %s",
                     (world.org_a, member.user_id))
        assert grants.identity_row(db, access)["role"] == "admin"  # the shared database's role, not the mirror's
        conn.execute("DELETE FROM members WHERE org_id = %s AND user_id = %s RETURNING role",
                     (world.org_a, member.user_id))
    with psycopg.connect(dedicated.admin_url) as conn:
        assert conn.execute("SELECT count(*) FROM members WHERE org_id = %s AND user_id = %s",
                            (world.org_a, member.user_id)).fetchone() == (1,)  # the mirror still says member
    try:
        assert grants.identity_row(db, access) is None
    finally:
        with psycopg.connect(world.db.admin_url, autocommit=True) as conn:
            conn.execute("INSERT INTO members (org_id, user_id, role) VALUES (%s, %s, 'member')",
                         (world.org_a, member.user_id))
    assert grants.identity_row(db, access) is not None
