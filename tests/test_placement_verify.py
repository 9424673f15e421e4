"""A move's verification is a proof: one differing value in the target under the hold aborts the switch.

`atlas org move` compares each placed table's fingerprint (a count and two sums
of 64-bit row hashes, app/placement/tables.py) in the source and the target with
the org's writes held. A sum of per-column hashes would only compare each
column's values apart, so these tests change one value of one row and swap one
column's values between two rows, in the target, under the hold: the move must
fail, switch nothing, release the hold (the org writes at the source again) and
abort cleanly. The fingerprint itself is checked on its own against the cases
a sum could miss, and against a column type without an extended hash function.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from app.db.scoped_settings import set_local
from app.devdb import databases
from app.devdb.databases import DatabaseFactory
from app.errors.operations import MoveError
from app.placement import move
from app.placement.tables import fingerprints, placed_tables
from tests.support import rows
from tests.support.logical import leftovers
from tests.support.placement import ids_in, placement_of


@pytest.fixture
def pair(logical_factory: DatabaseFactory) -> Iterator[tuple[databases.TestDatabase, databases.TestDatabase]]:
    shared, dedicated = logical_factory.clone(), logical_factory.empty()
    yield shared, dedicated
    logical_factory.drop(shared.name)
    logical_factory.drop(dedicated.name)


def _org_with_accounts(db: databases.TestDatabase, n: int) -> tuple[uuid.UUID, list[str]]:
    with psycopg.connect(db.admin_url, autocommit=True) as admin:
        org = rows.make_org(admin, "Acme")
        got = admin.execute("INSERT INTO accounts (org_id, name, employee_count) SELECT %s, 'account ' || g, g"
                            " FROM generate_series(1, %s) g ORDER BY g RETURNING id::text", (org, n)).fetchall()
    return org, [r[0] for r in got]


# Each tampering runs in the target, as its admin, with triggers off (as the subscription's apply does),
# and the move's error names what differs.
DIFFERS = r"accounts: the source has 50 rows .*the target 50 .*nothing was switched"
TAMPERINGS = {
    "one value of one row changed": (
        "UPDATE accounts SET name = name || '!' WHERE org_id = %(org)s AND id = %(a)s", DIFFERS),
    "two rows swap a value": (
        "UPDATE accounts SET employee_count = CASE WHEN id = %(a)s THEN 2 ELSE 1 END"
        " WHERE org_id = %(org)s AND id IN (%(a)s, %(b)s)", DIFFERS),
    "an append-only row missing": (  # audit_log: the target may hold more, never less
        "DELETE FROM audit_log WHERE ctid = (SELECT ctid FROM audit_log WHERE org_id = %(org)s LIMIT 1)",
        r"audit_log: 1 rows of the source are missing in the target; nothing was switched"),
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_a_target_row_that_differs_under_the_hold_aborts_the_move_and_the_org_writes_at_the_source(
        pair: tuple[databases.TestDatabase, databases.TestDatabase], tampering: str) -> None:
    shared, dedicated = pair
    org, ids = _org_with_accounts(shared, 50)
    steps: list[str] = []

    def pause(step: str) -> None:
        steps.append(step)
        if step == "held":  # the stream has caught up; the mover is about to verify
            with psycopg.connect(dedicated.admin_url, autocommit=True) as target:
                target.execute("SET session_replication_role = replica")
                changed = target.execute(TAMPERINGS[tampering][0], {"org": org, "a": ids[0], "b": ids[1]}).rowcount
                assert changed in (1, 2)

    plan = move.plan_move(shared.admin_url, shared.roles, org, to_url=dedicated.admin_url)
    with pytest.raises(MoveError, match=TAMPERINGS[tampering][1]):
        move.run(plan, cache_s=0.0, say=lambda line: None, pause=pause)
    assert steps[-1] == "held" and "verified" not in steps
    assert placement_of(shared, org) is None  # nothing switched: the org is served from the source

    with psycopg.connect(shared.app_url, autocommit=True) as app, app.transaction():  # the hold is released
        app.execute(set_local("app.org_id", str(org)))
        written = app.execute("INSERT INTO accounts (org_id, name) VALUES (%s, 'after') RETURNING id::text",
                              (org,)).fetchone()
    assert written is not None

    move.abort(move.pending_plan(shared.admin_url, shared.roles, org), say=lambda line: None)
    assert leftovers(shared.admin_url, dedicated.admin_url, org) == []
    assert ids_in(shared.admin_url, "accounts", org) == {*ids, written[0]}
    assert not ids_in(dedicated.admin_url, "accounts", org)


def _fingerprint(db: databases.TestDatabase, table: str, org: uuid.UUID) -> tuple[int, int, int]:
    with psycopg.connect(db.admin_url, autocommit=True) as conn:
        (placed,) = [t for t in placed_tables(conn, app_role=db.roles.app) if t.name == table]
        return fingerprints(conn, [placed], org)[table]


def test_the_fingerprint_sees_one_changed_value_and_swapped_values_but_not_the_rows_order(
        fresh_db: databases.TestDatabase) -> None:
    org, ids = _org_with_accounts(fresh_db, 20)
    before = _fingerprint(fresh_db, "accounts", org)
    assert before[0] == 20
    changes = [  # each made, fingerprinted, then undone (the last two: the same rows, in another physical order)
        ("UPDATE accounts SET name = 'account 1 ' WHERE id = %(a)s", "UPDATE accounts SET name = 'account 1' WHERE id = %(a)s", False),
        ("UPDATE accounts SET employee_count = 3 - employee_count WHERE id IN (%(a)s, %(b)s)",
         "UPDATE accounts SET employee_count = 3 - employee_count WHERE id IN (%(a)s, %(b)s)", False),
        ("UPDATE accounts SET employee_count = NULL WHERE id = %(a)s",
         "UPDATE accounts SET employee_count = 1 WHERE id = %(a)s", False),
        ("UPDATE accounts SET name = name WHERE org_id = %(org)s", "SELECT 1", True),
        ("VACUUM FULL accounts", "SELECT 1", True),
    ]
    with psycopg.connect(fresh_db.admin_url, autocommit=True) as admin:
        admin.execute("SET session_replication_role = replica")
        for change, undo, same in changes:
            admin.execute(change, {"org": org, "a": ids[0], "b": ids[1]})
            assert (_fingerprint(fresh_db, "accounts", org) == before) is same, change
            admin.execute(undo, {"org": org, "a": ids[0], "b": ids[1]})
    assert _fingerprint(fresh_db, "accounts", org) == before


def test_columns_of_a_type_without_an_extended_hash_are_fingerprinted_by_their_text(
        fresh_db: databases.TestDatabase) -> None:
    org, _ = _org_with_accounts(fresh_db, 1)
    with psycopg.connect(fresh_db.admin_url, autocommit=True) as admin:
        admin.execute("CREATE TABLE public.fingerprint_probe (org_id uuid NOT NULL, id int NOT NULL, doc json,"
                      " spot point, tags text[], PRIMARY KEY (org_id, id))")
        admin.execute("SELECT app.attach_org_hold('public.fingerprint_probe')")
        (probe,) = [t for t in placed_tables(admin, app_role=fresh_db.roles.app) if t.name == "fingerprint_probe"]
        assert probe.by_text == {"doc", "spot"}  # json and point have no hash opclass; text[] has
        insert = sql.SQL("INSERT INTO public.fingerprint_probe VALUES (%s, 1, %s, %s, %s)")
        admin.execute(insert, (org, '{"a": 1}', "(1,2)", ["x", "y"]))
        before = fingerprints(admin, [probe], org)["fingerprint_probe"]
        admin.execute("UPDATE public.fingerprint_probe SET spot = '(1,3)'")
        assert fingerprints(admin, [probe], org)["fingerprint_probe"] != before
        admin.execute("UPDATE public.fingerprint_probe SET spot = '(1,2)'")
        assert fingerprints(admin, [probe], org)["fingerprint_probe"] == before
