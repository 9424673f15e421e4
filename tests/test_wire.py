"""app/db/wire.py: a scoped read in one round trip on a prepared statement."""
from __future__ import annotations

import os
import resource
import uuid

import psycopg
import pytest

from app.db import wire
from app.errors.database import DatabaseTimeoutError
from tests.support import rows


@pytest.fixture(scope="module")
def world_db(db_factory):
    db = db_factory.clone()
    yield db
    db_factory.drop(db.name)


@pytest.fixture(scope="module")
def world(world_db):
    with psycopg.connect(world_db.admin_url, autocommit=True) as conn:
        org_a, org_b = rows.make_org(conn, "Alpha"), rows.make_org(conn, "Bravo")
        for org in (org_a, org_b):
            for _ in range(3):
                rows.insert_row(conn, "contacts", org, last_name="100%")
    with psycopg.connect(world_db.app_url, autocommit=True) as conn:
        yield conn, org_a, org_b


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


def test_evicted_statements_are_closed_by_the_protocol_not_by_sql(world, monkeypatch, tmp_path):
    """PgBouncer tracks protocol-level Close messages; an SQL DEALLOCATE would escape it."""
    conn, org_a, _ = world
    monkeypatch.setattr(wire, "_MAX_STATEMENTS", 1)
    trace = tmp_path / "trace"
    with trace.open("w") as out:
        conn.pgconn.trace(out.fileno())
        try:
            for i in range(3):
                wire.scoped_read(conn, org_a, f"SELECT {i} AS evicted FROM contacts LIMIT 1")
        finally:
            conn.pgconn.untrace()
    sent = trace.read_text()
    assert sent.count("\tClose\t") >= 2 and "DEALLOCATE" not in sent.upper()
    left = conn.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%%evicted%%'").fetchone()
    assert left == (1,)


def test_a_read_past_its_deadline_answers_503_and_closes_the_connection(template_db):
    conn = psycopg.connect(template_db.app_url, autocommit=True)
    try:
        with pytest.raises(DatabaseTimeoutError) as caught:
            wire.scoped_read(conn, uuid.uuid4(), "SELECT pg_sleep(3)", config=wire.WireConfig(timeout_s=0.3))
        assert caught.value.status == 503 and conn.closed
    finally:
        conn.close()


def test_a_connection_whose_descriptor_is_above_1024_is_read(world, template_db):
    """select() cannot watch a descriptor >= FD_SETSIZE (1024); poll() can."""
    _, org_a, _ = world
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        with psycopg.connect(world[0].info.dsn, password=None, autocommit=True) as conn:
            assert conn.pgconn.socket > 1024
            got = wire.scoped_read(conn, org_a, "SELECT count(*) AS n FROM contacts WHERE last_name = %s", ("100%",))
            assert got == [{"n": 3}]
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_unnamed_statements_read_in_one_round_trip_and_prepare_nothing(world):
    conn, org_a, _ = world
    query = "SELECT count(*) AS unnamed FROM contacts WHERE last_name = %s"
    for _ in range(3):
        assert wire.scoped_read(conn, org_a, query, ("100%",), config=wire.WireConfig(named=False)) == [{"unnamed": 3}]
    left = conn.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%%unnamed%%'").fetchone()
    assert left == (0,)


def test_a_session_read_scopes_its_data_to_the_live_session_only(world, template_db):
    """A dead token sees no tenant row in the same round trip; a live one sees its org's rows."""
    conn, org_a, _ = world
    live, revoked = "a" * 64, "b" * 64
    with psycopg.connect(world[0].info.dsn.replace(f"user={conn.info.user}", "user=postgres"),
                         autocommit=True) as admin:
        user = admin.execute("INSERT INTO users (email, name, password_hash) VALUES"
                             " (%s, 'W', 'x') RETURNING id", [f"{uuid.uuid4().hex}@wire.test"]).fetchone()[0]
        admin.execute("INSERT INTO members (org_id, user_id, role) VALUES (%s, %s, 'member')", [org_a, user])
        admin.execute("DELETE FROM sessions WHERE token_hash IN (%s, %s)", [live, revoked])
        admin.execute("INSERT INTO sessions (token_hash, user_id, active_org_id, expires_at, revoked_at) VALUES"
                      " (%s, %s, %s, now() + interval '1 hour', NULL),"
                      " (%s, %s, %s, now() + interval '1 hour', now())", [live, user, org_a, revoked, user, org_a])
    query = [("SELECT count(*) AS n FROM contacts WHERE org_id = (SELECT app.current_org())", None)]
    ident, results = wire.session_read(conn, live, query)
    assert ident is not None and ident["role"] == "member" and results[0][1] == [(3,)]
    ident, results = wire.session_read(conn, revoked, query)
    assert ident is None and results[0][1] == [(0,)]
    assert conn.execute("SELECT current_setting('app.org_id', true)").fetchone()[0] in ("", None)


def _server_statements(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute(
        "SELECT name FROM pg_prepared_statements WHERE name LIKE 'atlas\\_%%' OR name LIKE 'tx\\_%%'")}


def _recorded(conn: psycopg.Connection) -> set[str]:
    state = wire._states[conn]
    return {n.decode() for n in [*state.ends.values(), *state.statements.values()]}


@pytest.mark.parametrize("failing, error", [
    ("SELEC 1", psycopg.errors.SyntaxError),  # the Parse fails: the ends parsed before it exist
    ("SELECT 1 / (count(*) - count(*)) FROM contacts", psycopg.errors.DivisionByZero),  # the Execute fails
    ("SELECT * FROM contacts", psycopg.errors.LockNotAvailable),  # the Parse waits for a lock, then fails
])
def test_after_an_error_in_a_first_pipeline_the_record_matches_the_server(world_db, world, failing, error):
    """Issue 24 item 12: Parses before the failing message exist on the server; the record must say so."""
    _, org_a, _ = world
    count = ("SELECT count(*) AS n FROM contacts WHERE last_name = %s", ("100%",))
    with psycopg.connect(world_db.admin_url, autocommit=True) as admin, \
            psycopg.connect(world_db.app_url, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '100ms'")
        with admin.transaction():
            if error is psycopg.errors.LockNotAvailable:
                admin.execute("LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(error):
                wire.scoped_read(conn, org_a, failing)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert _recorded(conn) == _server_statements(conn) and "tx_begin_read_only" in _recorded(conn)
        assert wire.scoped_read(conn, org_a, *count) == [{"n": 3}]
        with admin.transaction():
            admin.execute("LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(psycopg.errors.LockNotAvailable):  # a Bind of a prepared statement, then a Parse
                wire.scoped_many(conn, org_a, [count, ("SELECT %s::int AS two", (2,))])
        assert _recorded(conn) == _server_statements(conn)
        assert wire.scoped_read(conn, org_a, *count) == [{"n": 3}]


def test_a_statement_the_server_has_but_the_record_lacks_is_closed_and_prepared_again(world_db, world):
    _, org_a, _ = world
    with psycopg.connect(world_db.app_url, autocommit=True) as conn:
        conn.pgconn.prepare(b"tx_begin_read_only", b"BEGIN READ ONLY")  # behind the wire's back
        assert wire.scoped_read(conn, org_a, "SELECT count(*) AS n FROM contacts WHERE last_name = %s",
                                ("100%",)) == [{"n": 3}]
        assert _recorded(conn) == _server_statements(conn)


def test_a_connection_left_mid_pipeline_is_not_lendable(world_db):
    with psycopg.connect(world_db.app_url, autocommit=True) as conn:
        assert wire.lendable(conn)
        conn.pgconn.enter_pipeline_mode()
        assert not wire.lendable(conn)
        conn.pgconn.exit_pipeline_mode()
        conn.pgconn.send_query(b"SELECT 1")
        assert not wire.lendable(conn)  # a query in flight: not idle
        while conn.pgconn.get_result() is not None:
            pass
        assert wire.lendable(conn)
