"""`atlas org move` by logical replication: wal_level first, and never a slot or publication left behind.

A leaked replication slot keeps every WAL segment of the source from its
position on, until the source's disk is full. These tests kill the mover at
each step (as an operator's Ctrl-C or a lost host would), abort or rerun, and
then read pg_replication_slots, pg_publication and pg_subscription of both
databases. Moves run on a cluster of the tests' own with wal_level = logical
(tests/support/logical.py); the wal_level check runs against the shared test
server when it lacks it.
"""
from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from app.devdb import databases
from app.devdb.databases import DatabaseFactory
from tests.support import rows
from tests.support.logical import leftovers
from tests.support.placement import ATLAS, ROOT, atlas, atlas_env, ids_in, placement_of, start_paused


def kill(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def org_with_accounts(db: databases.TestDatabase, n: int) -> tuple[uuid.UUID, set[str]]:
    with psycopg.connect(db.admin_url, autocommit=True) as admin:
        org = rows.make_org(admin, "Acme")
        got = admin.execute("INSERT INTO accounts (org_id, name) SELECT %s, 'account ' || g"
                            " FROM generate_series(1, %s) g RETURNING id::text", (org, n)).fetchall()
    return org, {r[0] for r in got}


@pytest.fixture
def pair(logical_factory: DatabaseFactory) -> Iterator[tuple[databases.TestDatabase, databases.TestDatabase]]:
    shared, dedicated = logical_factory.clone(), logical_factory.empty()
    yield shared, dedicated
    logical_factory.drop(shared.name)
    logical_factory.drop(dedicated.name)


def test_a_move_killed_at_each_step_and_aborted_leaves_no_slot_publication_or_subscription(
        pair: tuple[databases.TestDatabase, databases.TestDatabase]) -> None:
    shared, dedicated = pair
    org, ids = org_with_accounts(shared, 50)
    for step in ("started", "migrated", "copied", "held", "verified"):
        kill(start_paused(shared, step, "org", "move", str(org), "--to", dedicated.admin_url))
        undone = atlas(shared, "org", "move", str(org), "--abort")
        assert undone.returncode == 0, undone.stdout + undone.stderr
        assert leftovers(shared.admin_url, dedicated.admin_url, org) == [], step
        assert placement_of(shared, org) is None and ids_in(shared.admin_url, "accounts", org) == ids, step
        assert step == "started" or not ids_in(dedicated.admin_url, "accounts", org), step  # started: unmigrated

    moved = atlas(shared, "org", "move", str(org), "--to", dedicated.admin_url)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert leftovers(shared.admin_url, dedicated.admin_url, org) == []
    for step in ("copied", "held", "marked"):  # home again: the dedicated database publishes
        kill(start_paused(shared, step, "org", "move", str(org), "--back"))
        undone = atlas(shared, "org", "move", str(org), "--abort")
        assert undone.returncode == 0, undone.stdout + undone.stderr
        assert leftovers(dedicated.admin_url, shared.admin_url, org) == [], step
        assert ids_in(dedicated.admin_url, "accounts", org) == ids and not ids_in(shared.admin_url, "accounts", org)


def test_a_move_killed_while_streaming_and_rerun_subscribes_afresh_and_drops_everything(
        pair: tuple[databases.TestDatabase, databases.TestDatabase]) -> None:
    shared, dedicated = pair
    org, ids = org_with_accounts(shared, 50)
    kill(start_paused(shared, "copied", "org", "move", str(org), "--to", dedicated.admin_url))
    assert leftovers(shared.admin_url, dedicated.admin_url, org)  # the subscription streams on without its mover
    with psycopg.connect(shared.admin_url, autocommit=True) as admin:  # written after the kill: still streamed
        ids.add(admin.execute("INSERT INTO accounts (org_id, name) VALUES (%s, 'late') RETURNING id::text",
                              (org,)).fetchone()[0])  # type: ignore[index]  # RETURNING answers
    rerun = atlas(shared, "org", "move", str(org), "--to", dedicated.admin_url)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "switched; writes released after" in rerun.stdout
    assert leftovers(shared.admin_url, dedicated.admin_url, org) == []
    assert ids_in(dedicated.admin_url, "accounts", org) == ids and not ids_in(shared.admin_url, "accounts", org)
    home = atlas(shared, "org", "move", str(org), "--back")
    assert home.returncode == 0, home.stdout + home.stderr
    assert leftovers(dedicated.admin_url, shared.admin_url, org) == []
    assert ids_in(shared.admin_url, "accounts", org) == ids


def test_a_move_from_a_server_without_logical_wal_level_names_the_setting_and_copy_is_explicit(
        fresh_db: databases.TestDatabase, empty_db: databases.TestDatabase) -> None:
    with psycopg.connect(fresh_db.admin_url) as conn:
        level = conn.execute("SHOW wal_level").fetchone()[0]  # type: ignore[index]  # SHOW answers
    if level == "logical":
        pytest.skip("the shared test server has wal_level = logical: nothing to refuse here")
    org, ids = org_with_accounts(fresh_db, 5)
    refused = subprocess.run([*ATLAS, "org", "move", str(org), "--to", empty_db.admin_url], env=atlas_env(fresh_db),
                             capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)  # no --copy added
    assert refused.returncode != 0
    assert "wal_level = logical" in refused.stderr and "--copy" in refused.stderr, refused.stderr
    assert placement_of(fresh_db, org) is None and ids_in(fresh_db.admin_url, "accounts", org) == ids
    with psycopg.connect(fresh_db.admin_url) as conn:  # refused before anything was recorded
        assert conn.execute("SELECT count(*) FROM atlas_meta.org_moves").fetchone() == (0,)
    copied = atlas(fresh_db, "org", "move", str(org), "--to", empty_db.admin_url, "--copy")
    assert copied.returncode == 0, copied.stdout + copied.stderr
    assert ids_in(empty_db.admin_url, "accounts", org) == ids and placement_of(fresh_db, org) is not None
