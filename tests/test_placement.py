"""Dedicated databases: an org moved to a database of its own and home again, through `atlas org move`.

A second database of the local cluster stands in for the dedicated server. The
CLI runs as a subprocess, as an operator runs it; the app under test routes
each org's transactions by the placement it reads in the shared database.
"""
from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

from app.placement.locations import location_of
from app.scoped_settings import set_local
from tests.support import catalog, databases
from tests.support.api import TwoOrgs, two_org_world
from tests.support.databases import DatabaseFactory
from tests.support.placement import CACHE_S, atlas, ids_in, org_rows, placement_of

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
