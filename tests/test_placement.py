"""Dedicated databases: an org moved to a database of its own and home again, through `atlas org move`.

A second database of the local cluster stands in for the dedicated server. The
CLI runs as a subprocess, as an operator runs it; the app under test routes
each org's transactions by the placement it reads in the shared database.
"""
from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from app.placement.locations import location_of
from app.scoped_settings import set_local
from tests.support import catalog, databases
from tests.support.api import TwoOrgs, two_org_world
from tests.support.databases import DatabaseFactory
from tests.support.errors import error_code
from tests.support.placement import CACHE_S, atlas, ids_in, org_rows, placement_of, start_paused

CONTROL = {"members", "invitations"}


@pytest.fixture
def world(db_factory: DatabaseFactory) -> Iterator[TwoOrgs]:
    with two_org_world(db_factory, placement_cache_s=CACHE_S) as built:
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
    assert "verified accounts: 3 rows, checksum" in moved.stdout
    assert placement_of(shared, world.org_a) == location_of(dedicated.admin_url)
    # Every placed row of Acme is in its database and none is left in the shared one; Globex is untouched.
    assert org_rows(dedicated.admin_url, world.org_a, tables) == before_a
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
    assert sorted(row["id"] for row in world.user("b", "owner").get("/api/v1/accounts").get_json()["data"]) \
        == sorted(b_ids)

    home = atlas(shared, "org", "move", "acme", "--back")
    assert home.returncode == 0, home.stderr + home.stdout
    assert placement_of(shared, world.org_a) is None
    assert len(ids_in(shared.admin_url, "accounts", world.org_a)) == 5
    assert not any(org_rows(dedicated.admin_url, world.org_a, tables).values())
    wait_for_caches()
    assert len(owner.get("/api/v1/accounts").get_json()["data"]) == 5


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


def test_a_move_to_where_the_org_already_is_is_refused(world: TwoOrgs, dedicated: databases.TestDatabase) -> None:
    shared = world.db
    assert atlas(shared, "org", "move", "acme", "--to", dedicated.admin_url).returncode == 0
    again = atlas(shared, "org", "move", "acme", "--to", dedicated.admin_url)
    assert again.returncode == 1 and "already in" in again.stderr
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
    for step in ("started", "migrated", "copied", "held", "verified", "switched"):
        process = start_paused(shared, step, "org", "move", "acme", "--to", dedicated.admin_url)
        if step == "held":  # the moving org's writes are held; the other org's are not
            held = write_account(world, "a", "while held")
            assert held.status_code == 503 and error_code(held) == "org_moving", held.get_json()
            assert held.headers["Retry-After"] == "1"
            other = write_account(world, "b", "while acme is held")
            assert other.status_code == 201
            b_ids.add(other.get_json()["id"])
        kill(process)
        assert placement_of(shared, org) == (where if step == "switched" else None), step
        ids.add(assert_served(world, "a", ids))
        assert ids <= ids_in(dedicated.admin_url if step == "switched" else shared.admin_url, "accounts", org)
    finished = atlas(shared, "org", "move", "acme", "--to", dedicated.admin_url)
    assert finished.returncode == 0, finished.stdout + finished.stderr
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
