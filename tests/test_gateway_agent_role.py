"""Lock 2 on its own terms: what the agent role may do, from the catalog and by attack.

All orgs' agent queries share one role, so its sessions must neither read nor
signal each other (sql/030_agent.sql), and it reads exactly the allowed tables.
"""
from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from app.query_settings import CRM_TABLES


@pytest.fixture(scope="module")
def db(db_factory):
    database = db_factory.clone()
    yield database
    db_factory.drop(database.name)


def test_agent_privileges_are_select_on_the_crm_tables_only(db):
    """Generated from the catalog: every table in every schema, every privilege."""
    with psycopg.connect(db.admin_url) as conn:
        rows = conn.execute(
            """
            SELECT n.nspname, c.relname, p.privilege
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES',
                                    'TRIGGER']) AS p(privilege)
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
              AND n.nspname NOT IN ('pg_catalog', 'information_schema')
              AND has_table_privilege(%s, c.oid, p.privilege)
            """,
            (db.roles.agent,),
        ).fetchall()
    assert sorted(rows) == sorted(("public", t, "SELECT") for t in CRM_TABLES)


def test_agent_sessions_cannot_read_each_others_sql(db):
    marker = "secret-filter-of-another-org"
    with psycopg.connect(db.agent_url, autocommit=True) as victim, \
            psycopg.connect(db.agent_url, autocommit=True) as attacker:
        victim.execute(sql.SQL("SELECT {}").format(sql.Literal(marker)))
        seen = attacker.execute("SELECT coalesce(string_agg(query, ' '), '') FROM pg_stat_activity").fetchone()[0]
        by_function = attacker.execute(
            "SELECT coalesce(string_agg(pg_stat_get_backend_activity(b), ' '), '') "
            "FROM pg_stat_get_backend_idset() AS b"
        ).fetchone()[0]
    assert marker not in seen and marker not in by_function


def test_same_role_sessions_would_see_each_others_sql_without_030(db):
    """The control: the app role (track_activities on) shows what the agent role must not."""
    marker = "visible-between-app-sessions"
    with psycopg.connect(db.app_url, autocommit=True) as one, psycopg.connect(db.app_url, autocommit=True) as two:
        one.execute(sql.SQL("SELECT {}").format(sql.Literal(marker)))
        seen = two.execute("SELECT string_agg(query, ' ') FROM pg_stat_activity").fetchone()[0]
    assert marker in seen


@pytest.mark.parametrize("function", ["pg_cancel_backend(%s)", "pg_terminate_backend(%s)"])
def test_agent_cannot_signal_another_orgs_query(db, function):
    with psycopg.connect(db.agent_url, autocommit=True) as victim, \
            psycopg.connect(db.agent_url, autocommit=True) as attacker:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            attacker.execute(f"SELECT {function}", (victim.info.backend_pid,))
        assert victim.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize(
    "statement",
    ["SET track_activities = on", "SET temp_file_limit = -1", "SELECT set_config('role', 'postgres', false)"],
)
def test_agent_cannot_lift_its_limits(db, statement):
    with psycopg.connect(db.agent_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


@pytest.mark.parametrize("role", ["owner", "app", "postgres"])
def test_agent_cannot_switch_role(db, role):
    target = {"owner": db.roles.owner, "app": db.roles.app, "postgres": "postgres"}[role]
    with psycopg.connect(db.agent_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(target)))


def test_agent_has_backstop_limits_without_the_gateway(db):
    with psycopg.connect(db.agent_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_setting('statement_timeout'), current_setting('temp_file_limit'), "
            "current_setting('idle_in_transaction_session_timeout')"
        ).fetchone()
    assert row == ("30s", "1GB", "1min")
