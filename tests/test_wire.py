"""app/wire.py: a scoped read in one round trip on a prepared statement."""
from __future__ import annotations

import uuid

import psycopg
import pytest

from app import wire
from tests.support import rows


@pytest.fixture(scope="module")
def world(db_factory):
    db = db_factory.clone()
    with psycopg.connect(db.admin_url, autocommit=True) as conn:
        org_a, org_b = rows.make_org(conn, "Alpha"), rows.make_org(conn, "Bravo")
        for org in (org_a, org_b):
            for _ in range(3):
                rows.insert_row(conn, "contacts", org, last_name="100%")
    with psycopg.connect(db.app_url, autocommit=True) as conn:
        yield conn, org_a, org_b
    db_factory.drop(db.name)


@pytest.mark.parametrize("query, params, expected", [
    ("SELECT %s, %s", (1, 2), (b"SELECT $1, $2", [1, 2])),
    ("SELECT %(a)s, %(b)s, %(a)s", {"a": 1, "b": 2}, (b"SELECT $1, $2, $1", [1, 2])),
    ("SELECT '100%%' || %s", ("x",), (b"SELECT '100%' || $1", ["x"])),
    ("SELECT 1", None, (b"SELECT 1", [])),
])
def test_placeholders_become_numbered_parameters(query, params, expected):
    assert wire.to_positional(query, params) == expected


@pytest.mark.parametrize("query, params", [
    ("SELECT %s, %s", (1,)), ("SELECT %s", (1, 2)), ("SELECT %(a)s", (1,)), ("SELECT %s", {"a": 1}),
])
def test_placeholder_mismatches_are_refused(query, params):
    with pytest.raises((TypeError, KeyError)):
        wire.to_positional(query, params)


def test_a_scoped_read_sees_only_its_org_and_leaves_nothing_behind(world):
    conn, org_a, org_b = world
    got = wire.scoped_read(conn, org_a, "SELECT org_id, last_name FROM contacts WHERE last_name = %s", ("100%",))
    assert len(got) == 3 and {r["org_id"] for r in got} == {org_a}
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert conn.execute("SELECT current_setting('app.org_id', true)").fetchone()[0] in ("", None)
    assert conn.execute("SELECT count(*) FROM contacts").fetchone()[0] == 0
    assert {r["org_id"] for r in wire.scoped_read(conn, org_b, "SELECT org_id FROM contacts")} == {org_b}


def test_the_statement_is_prepared_once_and_reused(world):
    conn, org_a, _ = world
    query = "SELECT count(*) AS n FROM contacts WHERE org_id = %s"
    for _ in range(3):
        assert wire.scoped_read(conn, org_a, query, (org_a,)) == [{"n": 3}]
    prepared = conn.execute(
        "SELECT count(*) FROM pg_prepared_statements WHERE statement = 'SELECT count(*) AS n FROM contacts"
        " WHERE org_id = $1'").fetchone()[0]
    assert prepared == 1


def test_a_failed_read_is_rolled_back_and_raised_as_its_class(world):
    conn, org_a, _ = world
    with pytest.raises(psycopg.errors.DivisionByZero):
        wire.scoped_read(conn, org_a, "SELECT 1 / (count(*) - 3) FROM contacts")
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        wire.scoped_read(conn, org_a, "DELETE FROM contacts RETURNING id")
    with pytest.raises(psycopg.errors.SyntaxError):
        wire.scoped_read(conn, org_a, "SELEC nothing")
    assert wire.scoped_read(conn, org_a, "SELECT count(*) AS n FROM contacts") == [{"n": 3}]


def test_old_prepared_statements_are_deallocated(world, monkeypatch):
    conn, org_a, _ = world
    monkeypatch.setattr(wire, "_MAX_STATEMENTS", 2)
    for i in range(5):
        wire.scoped_read(conn, org_a, f"SELECT {i} AS i FROM contacts LIMIT 1")
    names = {r[0] for r in conn.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'atlas_%%'")}
    assert names == {name.decode() for name in wire._states[conn].statements.values()} and len(names) == 2


def test_an_unknown_org_sees_nothing(world):
    conn, _, _ = world
    assert wire.scoped_read(conn, uuid.uuid4(), "SELECT id FROM contacts") == []


def test_statements_dropped_behind_our_back_are_prepared_again(world):
    """psycopg sends DEALLOCATE ALL after rolling back a transaction that prepared statements."""
    conn, org_a, _ = world
    query = "SELECT count(*) AS n FROM contacts WHERE last_name = %s"
    assert wire.scoped_read(conn, org_a, query, ("100%",)) == [{"n": 3}]
    conn.execute("DEALLOCATE ALL")
    assert wire.scoped_read(conn, org_a, query, ("100%",)) == [{"n": 3}]
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
