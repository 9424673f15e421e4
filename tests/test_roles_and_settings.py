"""Attacks on the org setting and on the roles, from inside SQL, as the application role."""
from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from tests.support import rows


@pytest.fixture(scope="module")
def two_orgs(db_factory):
    db = db_factory.clone()
    with psycopg.connect(db.admin_url, autocommit=True) as conn:
        org_a, org_b = rows.make_org(conn, "Alpha"), rows.make_org(conn, "Bravo")
        for org in (org_a, org_b):
            for _ in range(3):
                rows.insert_row(conn, "contacts", org)
    yield db, org_a, org_b
    db_factory.drop(db.name)


def _in_org(conn: psycopg.Connection, org) -> None:
    conn.execute(sql.SQL("SET LOCAL app.org_id = {}").format(sql.Literal(str(org))))


def _visible_orgs(conn: psycopg.Connection) -> set:
    return {r[0] for r in conn.execute("SELECT org_id FROM contacts").fetchall()}


def test_set_config_cannot_switch_org_from_inside_a_query(two_orgs):
    db, org_a, org_b = two_orgs
    with psycopg.connect(db.app_url) as conn:
        _in_org(conn, org_a)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT set_config('app.org_id', %s, true), * FROM contacts", (str(org_b),))


def test_set_config_cannot_switch_role(two_orgs):
    db, org_a, _ = two_orgs
    with psycopg.connect(db.agent_url) as conn:
        _in_org(conn, org_a)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT set_config('role', %s, false)", (db.roles.owner,))


def test_updating_pg_settings_cannot_switch_org(two_orgs):
    db, org_a, org_b = two_orgs
    with psycopg.connect(db.app_url) as conn:
        _in_org(conn, org_a)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE pg_settings SET setting = %s WHERE name = 'app.org_id'", (str(org_b),))


@pytest.mark.parametrize("role", ["owner", "postgres"])
def test_app_role_cannot_become_a_privileged_role(two_orgs, role):
    db, _, _ = two_orgs
    target = db.roles.owner if role == "owner" else "postgres"
    with psycopg.connect(db.app_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(target)))


@pytest.mark.parametrize("url_attr", ["app_url", "agent_url"])
def test_app_roles_cannot_create_temporary_objects(two_orgs, url_attr):
    db, _, _ = two_orgs
    with psycopg.connect(getattr(db, url_attr)) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("CREATE TEMP TABLE contacts (org_id uuid)")


@pytest.mark.parametrize("url_attr", ["app_url", "agent_url"])
def test_app_roles_cannot_create_objects_in_public(two_orgs, url_attr):
    db, _, _ = two_orgs
    with psycopg.connect(getattr(db, url_attr)) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("CREATE FUNCTION public.now() RETURNS int LANGUAGE sql AS 'SELECT 1'")


def test_roles_are_neither_superuser_nor_bypassrls(two_orgs):
    db, _, _ = two_orgs
    with psycopg.connect(db.admin_url) as conn:
        rows_ = conn.execute(
            "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = ANY (%s)",
            ([db.roles.app, db.roles.agent, db.roles.owner],),
        ).fetchall()
    assert len(rows_) == 3
    assert all(not superuser and not bypass for _, superuser, bypass in rows_)


def test_empty_org_setting_after_reset_fails_closed(two_orgs):
    """After SET then RESET, current_setting(..., true) is '' rather than NULL: still nothing."""
    db, org_a, _ = two_orgs
    with psycopg.connect(db.app_url, autocommit=True) as conn:
        conn.execute(sql.SQL("SET app.org_id = {}").format(sql.Literal(str(org_a))))
        assert _visible_orgs(conn) == {org_a}
        conn.execute("RESET app.org_id")
        assert conn.execute("SELECT current_setting('app.org_id', true)").fetchone()[0] == ""
        assert _visible_orgs(conn) == set()


def test_malformed_org_setting_fails_closed(two_orgs):
    db, _, _ = two_orgs
    with psycopg.connect(db.app_url) as conn:
        conn.execute("SET LOCAL app.org_id = 'not-a-uuid'")
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            conn.execute("SELECT * FROM contacts")


def test_org_setting_dies_with_the_transaction(two_orgs):
    db, org_a, _ = two_orgs
    with psycopg.connect(db.app_url) as conn:
        _in_org(conn, org_a)
        assert _visible_orgs(conn) == {org_a}
        conn.commit()
        assert _visible_orgs(conn) == set()


def test_policies_evaluate_the_org_once_and_use_the_org_index(two_orgs):
    db, org_a, _ = two_orgs
    with psycopg.connect(db.app_url) as conn:
        _in_org(conn, org_a)
        conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            r[0] for r in conn.execute("EXPLAIN SELECT * FROM contacts WHERE last_name = 'x'").fetchall()
        )
    assert "InitPlan" in plan
    # The InitPlan's value is $0 up to PostgreSQL 16 and (InitPlan 1).col1 from 17 on.
    value = "$0" if "returns $0" in plan else "(InitPlan 1).col1"
    assert f"Index Cond: (org_id = {value})" in plan or f"Index Cond: ((org_id = {value})" in plan
