"""The org-scoped door (app/db/__init__.py): no org, no SQL; pooled connections keep no tenant state."""
from __future__ import annotations

import uuid

import psycopg
import pytest

from app.db import Database
from app.errors.database import MissingOrgError
from tests.support import rows


@pytest.fixture(scope="module")
def seeded(db_factory):
    db = db_factory.clone()
    with psycopg.connect(db.admin_url, autocommit=True) as conn:
        org_a, org_b = rows.make_org(conn, "Alpha"), rows.make_org(conn, "Bravo")
        for org, n in ((org_a, 3), (org_b, 2)):
            for _ in range(n):
                rows.insert_row(conn, "contacts", org)
    database = Database(db.app_url, min_size=1, max_size=1).open()
    yield database, org_a, org_b
    database.close()
    db_factory.drop(db.name)


@pytest.mark.parametrize("org", [None, "", "not-a-uuid", "1 OR 1=1"])
def test_no_valid_org_raises_before_any_sql_is_sent(org):
    # The pool points at a closed port and is never opened: reaching it would
    # raise a connection error, not MissingOrgError.
    unreachable = Database("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(MissingOrgError), unreachable.transaction(org):
        pass
    with pytest.raises(MissingOrgError):
        unreachable.read_all(org, "SELECT 1")


def test_transaction_sees_only_its_org(seeded):
    database, org_a, org_b = seeded
    with database.transaction(org_a) as scope:
        assert {r["org_id"] for r in scope.fetch_all("SELECT org_id FROM contacts")} == {org_a}
    assert len(database.read_all(org_b, "SELECT id FROM contacts")) == 2


def test_a_reused_connection_carries_no_tenant_state(seeded):
    """One pooled connection serves A then B: the setting died with A's transaction."""
    database, org_a, org_b = seeded
    with database.transaction(org_a) as scope:
        backend_a = scope.fetch_value("SELECT pg_backend_pid()")
    with database._connection() as conn:  # the door's own pooled connection, white-box
        assert conn.execute("SELECT pg_backend_pid()").fetchone()[0] == backend_a
        assert conn.execute("SELECT current_setting('app.org_id', true)").fetchone()[0] in (None, "")
        assert conn.execute("SELECT count(*) FROM contacts").fetchone()[0] == 0
    got = database.read_all(org_b, "SELECT org_id, pg_backend_pid() AS pid FROM contacts")
    assert {r["org_id"] for r in got} == {org_b} and {r["pid"] for r in got} == {backend_a}


def test_a_failed_read_returns_a_clean_connection(seeded):
    database, org_a, _ = seeded
    with pytest.raises(psycopg.errors.DivisionByZero):
        database.read_all(org_a, "SELECT 1 / 0")
    with pytest.raises(psycopg.errors.DivisionByZero), database.transaction(org_a) as scope:
        scope.fetch_all("SELECT 1 / 0")
    assert len(database.read_all(org_a, "SELECT id FROM contacts")) == 3


def test_read_only_transaction_refuses_writes(seeded):
    database, org_a, _ = seeded
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction), database.transaction(org_a, read_only=True) as scope:
        scope.execute("DELETE FROM contacts")
    assert len(database.read_all(org_a, "SELECT id FROM contacts")) == 3


def test_identity_transaction_reaches_no_tenant_rows(seeded):
    database, org_a, _ = seeded
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with database.identity_transaction(user_id=uuid.uuid4()) as scope:
            assert scope.fetch_value("SELECT count(*) FROM contacts") == 0
            scope.execute("INSERT INTO notes (org_id, body) VALUES (%s, 'x')", (org_a,))


def test_only_the_door_opens_connections():
    """psycopg.connect is called in app/db/ alone (app/db/connect.py): every other module asks the door."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "app"
    outside = []
    for path in root.rglob("*.py"):
        if path.relative_to(root).parts[0] == "db":
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "connect"
                    and ast.unparse(node.func.value) in ("psycopg", "psycopg.Connection", "psycopg.AsyncConnection")):
                outside.append(f"{path.relative_to(root.parent)}:{node.lineno}")
    assert outside == [], "open connections through app/db/connect.py open_connection: " + ", ".join(outside)


def test_a_connection_names_its_purpose_unless_the_conninfo_names_itself(template_db):
    from psycopg.conninfo import make_conninfo

    from app.db.connect import open_connection

    with open_connection("test purpose", template_db.admin_url) as conn:
        assert conn.execute("SELECT current_setting('application_name')").fetchone() == ("atlas test purpose",)
    with open_connection("test purpose", make_conninfo(template_db.admin_url, application_name="mine")) as conn:
        assert conn.execute("SELECT current_setting('application_name')").fetchone() == ("mine",)
