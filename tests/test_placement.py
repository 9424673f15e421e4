"""Dedicated databases: an org moved to a database of its own and home again, through `atlas org move`.

A second database of the local cluster stands in for the dedicated server. The
CLI runs as a subprocess, as an operator runs it; the app under test routes
each org's transactions by the placement it reads in the shared database.
"""
from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from app.db.scoped_settings import set_local
from app.devdb import databases
from app.devdb.audit import run_audit
from app.devdb.databases import DatabaseFactory
from app.errors.operations import MoveError
from app.http.context import services
from app.ops.metrics import REGISTRY
from app.placement import tables as placement_tables
from app.placement.locations import location_of
from tests.support import catalog, harness
from tests.support.api import TwoOrgs, invite_and_join, sign_up, two_org_world
from tests.support.errors import error_code
from tests.support.logical import leftovers
from tests.support.placement import CACHE_S, atlas, ids_in, org_rows, placement_of, start_paused

CONTROL = {"members", "invitations"}


@pytest.fixture(scope="session")
def db_factory(logical_factory: DatabaseFactory) -> DatabaseFactory:
    """Moves stream by logical replication: this module's databases live on a wal_level = logical cluster."""
    return logical_factory


@pytest.fixture
def world(db_factory: DatabaseFactory, tmp_path: Path) -> Iterator[TwoOrgs]:
    with two_org_world(db_factory, placement_cache_s=CACHE_S, semantic_root=str(tmp_path / "semantic")) as built:
        yield built


@pytest.fixture
def dedicated(db_factory: DatabaseFactory) -> Iterator[databases.TestDatabase]:
    """An empty database: `atlas org move` migrates it."""
    db = db_factory.empty()
    yield db
    db_factory.drop(db.name)


def placed_tables(db: databases.TestDatabase) -> list[str]:
    return [t for t in catalog.tenant_tables(db.admin_url) if t not in CONTROL]


def add_rows(world: TwoOrgs, org: str, n: int) -> list[str]:
    owner = world.user(org, "owner")
    ids = []
    for i in range(n):
        r = owner.post("/api/v1/accounts", json={"name": f"{org}-account-{i}", "owner_id": str(owner.user_id)})
        assert r.status_code == 201, r.get_json()
        ids.append(r.get_json()["id"])
        r = owner.post("/api/v1/contacts", json={"first_name": "C", "last_name": str(i),
                                                 "account_id": ids[-1]})
        assert r.status_code == 201, r.get_json()
    return ids


def wait_for_caches() -> None:
    time.sleep(CACHE_S * 2 + 0.1)


def test_org_moves_to_its_own_database_and_home_with_every_row(world: TwoOrgs, dedicated: databases.TestDatabase) -> None:
    shared = world.db
    a_ids, b_ids = add_rows(world, "a", 3), add_rows(world, "b", 2)
    tables = placed_tables(shared)
    before_a, before_b = org_rows(shared.admin_url, world.org_a, tables), org_rows(shared.admin_url, world.org_b, tables)

    moved = atlas(shared, "org", "move", "acme", "--to", dedicated.admin_url)
    assert moved.returncode == 0, moved.stderr + moved.stdout
    assert "verified accounts: 3 rows, fingerprint" in moved.stdout
    assert placement_of(shared, world.org_a) == location_of(dedicated.admin_url)
    # Every placed row of Acme is in its database and none is left in the shared one; Globex is untouched.
    moved_rows = org_rows(dedicated.admin_url, world.org_a, tables)
    # The move's own audit entries, streamed until the subscription is dropped after the switch.
    with psycopg.connect(dedicated.admin_url) as conn:
        audited = conn.execute("SELECT count(*) FROM audit_log WHERE org_id = %s AND action = 'organization.move'",
                               (world.org_a,)).fetchone()[0]  # type: ignore[index]  # count(*) always answers
    assert audited == len(("started", "migrated", "copied", "held", "verified", "switched"))
    assert leftovers(shared.admin_url, dedicated.admin_url, world.org_a) == []
    assert {**moved_rows, "audit_log": moved_rows["audit_log"] - audited} == before_a
    assert not any(org_rows(shared.admin_url, world.org_a, [t for t in tables if t != "audit_log"]).values())
    assert org_rows(shared.admin_url, world.org_b, tables) == before_b
    assert not any(org_rows(dedicated.admin_url, world.org_b, tables).values())

    # Everything above the door is unchanged: reads, writes and member changes keep working.
    wait_for_caches()
    owner = world.user("a", "owner")
    listed = owner.get("/api/v1/accounts").get_json()
    assert sorted(row["id"] for row in listed["data"]) == sorted(a_ids)
    r = owner.post("/api/v1/accounts", json={"name": "made in the dedicated database"})
    assert r.status_code == 201
    assert r.get_json()["id"] in ids_in(dedicated.admin_url, "accounts", world.org_a)
    member = world.user("a", "member")
    r = owner.post("/api/auth/organization/update-member-role", json={"memberId": str(member.member_id),
                                                                      "role": "admin"})
    assert r.status_code == 200, r.get_json()
    r = owner.post("/api/v1/accounts", json={"name": "owned by the new admin", "owner_id": str(member.user_id)})
    assert r.status_code == 201, r.get_json()
    newcomer = sign_up(world.app, "newcomer@acme.test")  # joins after the move: the mirror follows
    invite_and_join(owner, newcomer, "member")
    r = owner.post("/api/v1/accounts", json={"name": "owned by the newcomer", "owner_id": str(newcomer.user_id)})
    assert r.status_code == 201, r.get_json()
    assert sorted(row["id"] for row in world.user("b", "owner").get("/api/v1/accounts").get_json()["data"]) \
        == sorted(b_ids)

    home = atlas(shared, "org", "move", "acme", "--back")
    assert home.returncode == 0, home.stderr + home.stdout
    assert placement_of(shared, world.org_a) is None
    assert len(ids_in(shared.admin_url, "accounts", world.org_a)) == 6
    assert not any(org_rows(dedicated.admin_url, world.org_a, tables).values())
    wait_for_caches()
    assert len(owner.get("/api/v1/accounts").get_json()["data"]) == 6


def test_a_stale_worker_is_refused_where_the_org_no_longer_lives(world: TwoOrgs, dedicated: databases.TestDatabase) -> None:
    """The shared database refuses Acme's writes once Acme lives elsewhere: 503 and Retry-After, nothing written."""
    shared = world.db
    moved = atlas(shared, "org", "move", "acme", "--to", dedicated.admin_url)
    assert moved.returncode == 0, moved.stderr
    with psycopg.connect(shared.app_url, autocommit=True) as conn, pytest.raises(psycopg.Error) as refused:
        with conn.transaction():
            conn.execute(set_local("app.org_id", str(world.org_a)))
            conn.execute("INSERT INTO accounts (org_id, name) VALUES (%s, 'stale')", (world.org_a,))
    assert refused.value.sqlstate == "AT503"
    assert not ids_in(shared.admin_url, "accounts", world.org_a)


def test_a_move_to_where_the_org_already_is_or_to_the_shared_database_is_refused(world: TwoOrgs, dedicated: databases.TestDatabase) -> None:
    shared = world.db
    assert atlas(shared, "org", "move", "acme", "--to", dedicated.admin_url).returncode == 0
    again = atlas(shared, "org", "move", "acme", "--to", dedicated.admin_url)
    assert again.returncode == 1 and "already in" in again.stderr
    itself = atlas(shared, "org", "move", "globex", "--to", shared.admin_url.replace("127.0.0.1", "localhost"))
    assert itself.returncode == 1 and "the shared database itself" in itself.stderr
    assert len(ids_in(shared.admin_url, "members", world.org_b)) == 3  # nothing of Globex was touched
    where = atlas(shared, "org", "where", "acme")
    assert where.stdout.strip() == f"database: {location_of(dedicated.admin_url)}"


# ----- interrupted moves ------------------------------------------------------------------
def write_account(world: TwoOrgs, org: str, name: str) -> Any:
    return world.user(org, "owner").post("/api/v1/accounts", json={"name": name})


def assert_served(world: TwoOrgs, org: str, expected_ids: set[str]) -> str:
    """The org reads every row it had and takes a new write (once caches caught up); the new row's id."""
    wait_for_caches()
    listed = world.user(org, "owner").get("/api/v1/accounts?limit=200")
    assert listed.status_code == 200, listed.get_json()
    assert {row["id"] for row in listed.get_json()["data"]} == expected_ids
    written = write_account(world, org, "after an interrupted move")
    assert written.status_code == 201, written.get_json()
    return str(written.get_json()["id"])


def kill(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def test_a_move_killed_at_each_step_leaves_a_served_org_and_can_be_rerun(
        world: TwoOrgs, dedicated: databases.TestDatabase) -> None:
    shared, org = world.db, world.org_a
    ids = set(add_rows(world, "a", 2))
    b_ids = set(add_rows(world, "b", 1))
    where = location_of(dedicated.admin_url)
    for step in ("started", "migrated", "copied", "held", "verified", "switched", "cleaned"):
        process = start_paused(shared, step, "org", "move", "acme", "--to", dedicated.admin_url)
        if step == "held":  # the moving org's writes are held; the other org's are not
            held = write_account(world, "a", "while held")
            assert held.status_code == 503 and error_code(held) == "org_moving", held.get_json()
            assert held.headers["Retry-After"] == "1"
            assert world.user("a", "member").get("/api/v1/accounts").status_code == 200  # reads go on
            other = write_account(world, "b", "while acme is held")
            assert other.status_code == 201
            b_ids.add(other.get_json()["id"])
        kill(process)
        switched = step in ("switched", "cleaned")
        assert placement_of(shared, org) == (where if switched else None), step
        ids.add(assert_served(world, "a", ids))
        assert ids <= ids_in(dedicated.admin_url if switched else shared.admin_url, "accounts", org)
    finished = atlas(shared, "org", "move", "acme", "--to", dedicated.admin_url)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert leftovers(shared.admin_url, dedicated.admin_url, org) == []
    assert ids_in(dedicated.admin_url, "accounts", org) == ids and not ids_in(shared.admin_url, "accounts", org)

    for step in ("copied", "held", "marked", "switched"):  # and home again, killed at each step
        process = start_paused(shared, step, "org", "move", "acme", "--back")
        kill(process)
        assert placement_of(shared, org) == (None if step == "switched" else where), step
        if step == "marked":  # killed between marking the source and switching: reads go on, writes wait
            wait_for_caches()
            listed = world.user("a", "owner").get("/api/v1/accounts?limit=200").get_json()["data"]
            assert {row["id"] for row in listed} == ids
            refused = write_account(world, "a", "before the rerun")
            assert refused.status_code == 503 and error_code(refused) == "org_moving"
        else:
            ids.add(assert_served(world, "a", ids))
    home = atlas(shared, "org", "move", "acme", "--back")
    assert home.returncode == 0, home.stdout + home.stderr
    assert leftovers(dedicated.admin_url, shared.admin_url, org) == []
    assert ids_in(shared.admin_url, "accounts", org) == ids and not ids_in(dedicated.admin_url, "accounts", org)
    assert_served(world, "a", ids)
    assert {row["id"] for row in world.user("b", "owner").get("/api/v1/accounts").get_json()["data"]} == b_ids


def test_an_unfinished_move_can_be_undone(world: TwoOrgs, dedicated: databases.TestDatabase) -> None:
    shared, org = world.db, world.org_a
    ids = set(add_rows(world, "a", 2))
    kill(start_paused(shared, "verified", "org", "move", "acme", "--to", dedicated.admin_url))
    undone = atlas(shared, "org", "move", "acme", "--abort")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert placement_of(shared, org) is None
    assert not any(org_rows(dedicated.admin_url, org, placed_tables(shared)).values())
    ids.add(assert_served(world, "a", ids))
    assert atlas(shared, "org", "move", "acme", "--to", dedicated.admin_url).returncode == 0

    kill(start_paused(shared, "marked", "org", "move", "acme", "--back"))  # the dedicated source refuses writes
    undone = atlas(shared, "org", "move", "acme", "--abort")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert placement_of(shared, org) == location_of(dedicated.admin_url)
    assert_served(world, "a", ids)
    assert not ids_in(shared.admin_url, "accounts", org)


# ----- the dedicated database is as safe as the shared one ------------------------------------
def test_policy_audit_and_cross_tenant_harness_hold_on_a_dedicated_database(
        world: TwoOrgs, dedicated: databases.TestDatabase) -> None:
    assert atlas(world.db, "org", "move", "acme", "--to", dedicated.admin_url).returncode == 0
    audit = run_audit(dedicated.admin_url)
    assert audit.returncode == 0 and not audit.findings, audit.stdout + audit.stderr
    tables = catalog.tenant_tables(dedicated.admin_url)
    assert set(tables) >= set(placed_tables(world.db))
    for table in tables:
        seeded = harness.seed_two_orgs(dedicated.admin_url, table)
        assert harness.run_all(dedicated.admin_url, dedicated.app_url, seeded) == [], table


def test_agent_queries_of_a_dedicated_org_read_its_database(world: TwoOrgs, dedicated: databases.TestDatabase) -> None:
    add_rows(world, "a", 2)
    add_rows(world, "b", 1)
    assert atlas(world.db, "org", "move", "acme", "--to", dedicated.admin_url).returncode == 0
    wait_for_caches()
    for org in ("a", "b"):
        r = world.user(org, "owner").put("/api/v1/admin/semantic/org/entities/accounts", json={"yamlContent": (
            "table: accounts\ndescription: accounts\ndimensions:\n  - name: name\n    sql: name\n    type: string\n")})
        assert r.status_code == 201, r.get_json()
    assert ids_in(dedicated.admin_url, "semantic_entities", world.org_a)
    r = world.user("a", "member").post("/api/v1/query", json={"sql": "SELECT name FROM accounts ORDER BY name"})
    assert r.status_code == 200, r.get_json()
    assert [row[0] for row in r.get_json()["rows"]] == ["a-account-0", "a-account-1"]
    r = world.user("b", "member").post("/api/v1/query", json={"sql": "SELECT name FROM accounts ORDER BY name"})
    assert [row[0] for row in r.get_json()["rows"]] == ["b-account-0"]
    cli = atlas(world.db, "query", "--org", "acme", "SELECT name FROM accounts ORDER BY name")
    assert cli.returncode == 0, cli.stderr
    assert [row[0] for row in json.loads(cli.stdout)["rows"]] == ["a-account-0", "a-account-1"]


def test_atlas_migrate_migrates_every_dedicated_database(world: TwoOrgs, dedicated: databases.TestDatabase) -> None:
    assert atlas(world.db, "org", "move", "acme", "--to", dedicated.admin_url).returncode == 0
    with psycopg.connect(dedicated.admin_url, autocommit=True) as conn:  # the dedicated database falls behind
        conn.execute("DELETE FROM atlas_meta.schema_migrations WHERE version = '095'")
        conn.execute("DROP TABLE org_placements, atlas_meta.org_moves, atlas_meta.org_away CASCADE")
        conn.execute("DROP FUNCTION app.attach_org_hold(regclass), app.org_hold_key(uuid) CASCADE")
        conn.execute("DROP FUNCTION app.refuse_held_org() CASCADE")
    migrated = atlas(world.db, "migrate")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert f"{location_of(dedicated.admin_url)}: 095_placement.sql" in migrated.stdout
    with psycopg.connect(dedicated.admin_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'org_hold'").fetchone()[0] > 10


def test_a_placed_table_without_the_write_hold_stops_a_move(fresh_db: databases.TestDatabase) -> None:
    """A tenant table a later migration adds must call app.attach_org_hold(); the move names it otherwise."""
    with psycopg.connect(fresh_db.admin_url, autocommit=True) as conn:
        assert [t.name for t in placement_tables.placed_tables(conn, app_role=fresh_db.roles.app)]
        conn.execute("CREATE TABLE forgotten (org_id uuid NOT NULL, id uuid PRIMARY KEY)")
        with pytest.raises(MoveError, match="forgotten"):
            placement_tables.placed_tables(conn, app_role=fresh_db.roles.app)
        conn.execute("SELECT app.attach_org_hold('forgotten')")
        assert "forgotten" in [t.name for t in placement_tables.placed_tables(conn, app_role=fresh_db.roles.app)]


def test_the_pools_of_a_dedicated_database_show_in_the_pool_statistics(world: TwoOrgs, dedicated: databases.TestDatabase) -> None:
    add_rows(world, "a", 1)
    assert atlas(world.db, "org", "move", "acme", "--to", dedicated.admin_url).returncode == 0
    wait_for_caches()
    owner = world.user("a", "owner")
    assert owner.get("/api/v1/accounts").status_code == 200  # opens this process's pool on Acme's database
    [row] = owner.get("/api/v1/admin/connections").get_json()["dedicated"]
    assert row["role"] == "app" and row["open_connections"] >= 1 and "location" not in row
    assert world.user("b", "owner").get("/api/v1/admin/connections").get_json()["dedicated"] == []
    operator = world.user("b", "member")
    with psycopg.connect(world.db.admin_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET platform_role = 'admin' WHERE id = %s", (operator.user_id,))
    rows = operator.get("/api/v1/admin/connections").get_json()["dedicated"]
    assert [(r["role"], r["location"]) for r in rows] == [("app", location_of(dedicated.admin_url))]
    services(world.app).pool_gauges.sample()  # what a /metrics scrape does first
    assert (REGISTRY.get_sample_value("atlas_pool_dedicated_open_connections") or 0) >= 1


def test_platform_admins_count_a_dedicated_orgs_rows_where_they_live(world: TwoOrgs, dedicated: databases.TestDatabase) -> None:
    assert atlas(world.db, "org", "move", "acme", "--to", dedicated.admin_url).returncode == 0
    wait_for_caches()
    admin = world.user("a", "admin")
    assert admin.post("/api/v1/conversations", json={"title": "placed"}).status_code == 201
    assert admin.post("/api/v1/query", json={"sql": "SELECT 1 AS one"}).status_code == 200
    assert admin.post("/api/v1/jobs", json={"kind": "reprofile"}).status_code == 201
    assert world.user("b", "admin").post("/api/v1/jobs", json={"kind": "reprofile"}).status_code == 201
    assert ids_in(dedicated.admin_url, "conversations", world.org_a)  # the rows are in Acme's database
    operator = world.user("b", "member")
    with psycopg.connect(world.db.admin_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET platform_role = 'admin' WHERE id = %s", (operator.user_id,))
    stats = operator.get(f"/api/v1/admin/organizations/{world.org_a}/stats").get_json()
    assert (stats["conversations"], stats["queries"], stats["jobsQueued"], stats["members"]) == (1, 1, 1, 3), stats
    listed = {o["id"]: o for o in operator.get("/api/v1/admin/organizations").get_json()["data"]}
    assert listed[str(world.org_a)]["jobsQueued"] == listed[str(world.org_b)]["jobsQueued"] == 1
    assert operator.get(f"/api/v1/admin/organizations/{world.org_b}/stats").get_json()["conversations"] == 0


def test_a_dedicated_orgs_audit_trail_merges_its_control_plane_entries(world: TwoOrgs, dedicated: databases.TestDatabase) -> None:
    assert atlas(world.db, "org", "move", "acme", "--to", dedicated.admin_url).returncode == 0
    wait_for_caches()
    owner, member = world.user("a", "owner"), world.user("a", "member")
    assert owner.post("/api/v1/accounts", json={"name": "written in Acme's database"}).status_code == 201
    r = owner.post("/api/auth/organization/update-member-role", json={"memberId": str(member.member_id), "role": "admin"})
    assert r.status_code == 200, r.get_json()
    assert owner.post("/api/v1/accounts", json={"name": "and another"}).status_code == 201
    with psycopg.connect(world.db.admin_url) as conn:  # the role change is recorded in the shared database
        shared = conn.execute("SELECT count(*) FROM audit_log WHERE org_id = %s AND entity = 'member'"
                              " AND occurred_at > now() - interval '1 minute'", [world.org_a]).fetchone()
    assert shared == (1,)
    trail = owner.get("/api/v1/admin/audit?limit=3").get_json()["data"]
    assert [e["entity"] for e in trail] == ["account", "member", "account"]
    paged, cursor = [], ""
    while True:  # one entry per page, across both databases, in the same order
        page = owner.get(f"/api/v1/admin/audit?limit=1{cursor}").get_json()
        paged += page["data"]
        if not page["nextCursor"] or len(paged) == 3:
            break
        cursor = f"&cursor={page['nextCursor']}"
    assert [e["id"] for e in paged] == [e["id"] for e in trail]
    globex = world.user("b", "owner").get("/api/v1/admin/audit?limit=200").get_json()["data"]
    assert str(member.member_id) not in {e["entity_id"] for e in globex}  # Acme's entries stay Acme's


def test_an_orgs_audit_trail_lists_each_entry_once_while_a_move_awaits_its_cleanup(
        world: TwoOrgs, dedicated: databases.TestDatabase) -> None:
    owner = world.user("a", "owner")
    assert owner.post("/api/v1/accounts", json={"name": "before the move"}).status_code == 201
    process = start_paused(world.db, "switched", "org", "move", "acme", "--to", dedicated.admin_url)
    try:  # switched, not cleaned: the copied entries are in both databases until the purge
        wait_for_caches()
        copied = ids_in(dedicated.admin_url, "audit_log", world.org_a)
        assert copied and copied <= ids_in(world.db.admin_url, "audit_log", world.org_a)
        trail = owner.get("/api/v1/admin/audit?limit=200").get_json()["data"]
        ids = [entry["id"] for entry in trail]
        assert len(ids) == len(set(ids)) and set(ids) >= copied
        paged, cursor = [], ""
        while True:  # and paging one entry at a time meets each once, in the same order
            page = owner.get(f"/api/v1/admin/audit?limit=1{cursor}").get_json()
            paged += [entry["id"] for entry in page["data"]]
            if not page["nextCursor"]:
                break
            cursor = f"&cursor={page['nextCursor']}"
        assert paged == ids
    finally:
        kill(process)


# ----- every move step is audited (issue 24 item 10) ------------------------------------------
MOVE_STEPS = ["started", "migrated", "copied", "held", "verified", "switched", "cleaned"]


def move_entries(world: TwoOrgs, since: int = 0) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """(action, step, outcome) of the org's trail as its owner reads it, and (action, step) in platform_audit."""
    trail = world.user("a", "owner").get("/api/v1/admin/audit?entity=organization&limit=200").get_json()["data"]
    mine = [(e["action"], e["detail"]["step"], e["outcome"]) for e in reversed(trail)
            if e["action"].startswith("organization.move")]
    with psycopg.connect(world.db.admin_url) as conn:
        platform = conn.execute("SELECT action, detail->>'step', actor_user_id FROM platform_audit"
                                " WHERE target_org_id = %s ORDER BY occurred_at, id", (world.org_a,)).fetchall()
    assert all(actor is None for _a, _s, actor in platform)  # an operator's command: no Atlas user
    return mine[since:], [(a, s) for a, s, _actor in platform][since:]


def test_every_step_of_a_move_home_and_an_abort_is_audited_in_the_orgs_trail_and_platform_audit(
        world: TwoOrgs, dedicated: databases.TestDatabase) -> None:
    assert atlas(world.db, "org", "move", "acme", "--to", dedicated.admin_url).returncode == 0
    wait_for_caches()
    trail, platform = move_entries(world)
    assert trail == [("organization.move", step, "ok") for step in MOVE_STEPS]
    assert platform == [("organization.move", step) for step in MOVE_STEPS]
    entry = world.user("a", "owner").get("/api/v1/admin/audit?action=organization.move&limit=1").get_json()["data"][0]
    assert entry["detail"]["from"] == "shared" and entry["detail"]["to"] == location_of(dedicated.admin_url)
    assert entry["detail"]["operator"] and entry["entity_id"] == str(world.org_a)

    home = atlas(world.db, "org", "move", "acme", "--back")
    assert home.returncode == 0, home.stdout + home.stderr
    wait_for_caches()
    trail, platform = move_entries(world, since=len(MOVE_STEPS))
    steps = ["started", "migrated", "copied", "held", "verified", "marked", "switched", "cleaned"]
    assert trail == [("organization.move", step, "ok") for step in steps]
    assert platform == [("organization.move", step) for step in steps]

    kill(start_paused(world.db, "copied", "org", "move", "acme", "--to", dedicated.admin_url))
    assert atlas(world.db, "org", "move", "acme", "--abort").returncode == 0
    trail, platform = move_entries(world, since=len(MOVE_STEPS) + len(steps))
    assert trail == [("organization.move", s, "ok") for s in ("started", "migrated", "copied")] + [
        ("organization.move_abort", "copied", "ok")], trail
    assert platform == [(a, s) for a, s, _o in trail]
    assert world.user("b", "owner").get("/api/v1/admin/audit?entity=organization&limit=200").get_json()["data"] \
        and not any(e["action"].startswith("organization.move") for e in world.user("b", "owner").get(
            "/api/v1/admin/audit?entity=organization&limit=200").get_json()["data"])  # Globex's trail has none


def test_platform_admins_read_a_dedicated_orgs_agent_usage_where_it_lives(world: TwoOrgs, dedicated: databases.TestDatabase) -> None:
    """agent_usage is a placed table: the usage of an org in a dedicated database is written and read there."""
    from app.agent import usage

    assert atlas(world.db, "org", "move", "acme", "--to", dedicated.admin_url).returncode == 0
    wait_for_caches()
    with world.app.app_context():  # the agent's own write path, routed by the placement
        usage.add(services().db, world.org_a, asks=2, steps=5, queries=3, refused=1, prompt_tokens=700,
                  completion_tokens=50, time_ms=1200)
        usage.add(services().db, world.org_b, asks=1, prompt_tokens=10)
    assert org_rows(dedicated.admin_url, world.org_a, ["agent_usage"]) == {"agent_usage": 1}
    assert org_rows(world.db.admin_url, world.org_a, ["agent_usage"]) == {"agent_usage": 0}
    operator = world.user("b", "member")
    with psycopg.connect(world.db.admin_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET platform_role = 'admin' WHERE id = %s", (operator.user_id,))
    r = operator.get(f"/api/v1/admin/organizations/{world.org_a}/agent-usage")
    assert r.status_code == 200, r.get_json()
    [day] = r.get_json()["data"]
    assert (day["asks"], day["steps"], day["queries"], day["refused"], day["tokens"]) == (2, 5, 3, 1, 750), day
    assert r.get_json()["tokensToday"] == 750
    assert world.user("a", "admin").get("/api/v1/admin/agent/usage").get_json()["data"] == [day]
    b = operator.get(f"/api/v1/admin/organizations/{world.org_b}/agent-usage").get_json()["data"]
    assert [d["asks"] for d in b] == [1]  # the shared database's org still reads there
    with psycopg.connect(world.db.admin_url) as conn:  # the look is audited in the shared database
        looks = conn.execute("SELECT count(*) FROM platform_audit WHERE action = 'platform.organization.agent_usage'"
                             " AND target_org_id = %s", (world.org_a,)).fetchone()
    assert looks == (1,)
    assert operator.get("/api/v1/admin/organizations/not-a-uuid/agent-usage").status_code == 404
    assert world.user("a", "owner").get(f"/api/v1/admin/organizations/{world.org_a}/agent-usage").status_code == 403
