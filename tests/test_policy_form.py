"""Two forms of every policy from one declaration (sql/120_policy_form.sql): the subquery form and
the form Citus accepts, with the same plans' essentials and the same isolation.

The cross-tenant harness runs in both forms (tests/test_cross_tenant_sql.py); the policy audit
checks both (tests/test_policy_audit.py). Here: no tenant policy holds a subquery in the citus
form, the forms round-trip exactly, the org still reaches the index, `atlas migrate` remembers
the form and applies it to policies added later.
"""
from __future__ import annotations

import json
import shutil
import uuid

import psycopg
import pytest
from pglast import ast, parse_sql
from psycopg import sql

from app.db.migrate import SQL_DIR, migrate
from app.devdb.audit import run_audit
from app.errors.database import MigrationError
from tests.support import catalog

POLICIES = """
    SELECT c.relname, pol.polname, pg_get_expr(pol.polqual, pol.polrelid), pg_get_expr(pol.polwithcheck, pol.polrelid)
    FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' ORDER BY 1, 2"""


def _policies(url: str) -> list[tuple[str, str, str | None, str | None]]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET search_path = pg_catalog")
        return [tuple(r) for r in conn.execute(POLICIES)]  # type: ignore[misc]


def _set_form(url: str, form: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return int(conn.execute("SELECT atlas_meta.set_policy_form(%s)", (form,)).fetchone()[0])  # type: ignore[index]


def _sublinks(expression: str) -> list[ast.SubLink]:
    """The subqueries PostgreSQL's own parser finds in a policy expression."""
    found: list[ast.SubLink] = []

    def walk(node: object) -> None:
        if isinstance(node, ast.SubLink):
            found.append(node)
        if isinstance(node, ast.Node):
            for name in node:
                walk(getattr(node, name))
        elif isinstance(node, tuple):
            for item in node:
                walk(item)

    walk(parse_sql(f"SELECT {expression}")[0])
    return found


def test_no_tenant_policy_holds_a_subquery_in_the_citus_form(fresh_db):
    tenants = set(catalog.tenant_tables(fresh_db.admin_url))
    assert _set_form(fresh_db.admin_url, "citus") > 0
    checked = set()
    for table, name, qual, check in _policies(fresh_db.admin_url):
        if table not in tenants:
            continue
        for expression in (qual, check):
            if expression is not None:
                assert _sublinks(expression) == [], f"{table}: policy {name!r} holds a subquery: {expression}"
                checked.add(table)
    assert checked == tenants, "every tenant table has policies to check"


def test_the_subquery_form_wraps_every_helper_the_citus_form_calls(fresh_db):
    """The check above can fail: today's form is full of subqueries, the citus form has none."""
    tenants = set(catalog.tenant_tables(fresh_db.admin_url))
    subquery = [p for p in _policies(fresh_db.admin_url) if p[0] in tenants]
    assert all(_sublinks(e) for p in subquery for e in p[2:] if e is not None and "app." in e)
    _set_form(fresh_db.admin_url, "citus")
    citus = [p for p in _policies(fresh_db.admin_url) if p[0] in tenants]
    assert [p[:2] for p in citus] == [p[:2] for p in subquery]


def test_the_forms_round_trip_exactly_and_rewriting_twice_changes_nothing(fresh_db):
    original = _policies(fresh_db.admin_url)
    assert _set_form(fresh_db.admin_url, "citus") > 0
    assert _set_form(fresh_db.admin_url, "citus") == 0
    assert _policies(fresh_db.admin_url) != original
    assert _set_form(fresh_db.admin_url, "subquery") > 0
    assert _policies(fresh_db.admin_url) == original


def test_an_unknown_form_is_refused_by_name(fresh_db):
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="subquery or citus"):
        _set_form(fresh_db.admin_url, "sharded")
    with pytest.raises(MigrationError, match="--policy-form"):
        migrate(fresh_db.admin_url, roles=fresh_db.roles, policy_form="sharded")


def _plan(url: str, org: uuid.UUID) -> dict:
    with psycopg.connect(url) as conn, conn.transaction(force_rollback=True):
        conn.execute(sql.SQL("SET LOCAL app.org_id = {}").format(sql.Literal(str(org))))
        conn.execute("SET LOCAL enable_seqscan = off")  # a scratch table is tiny; ask which index it can use
        row = conn.execute("EXPLAIN (VERBOSE, FORMAT JSON) SELECT id FROM contacts WHERE id = %s",
                           (uuid.uuid4(),)).fetchone()
    assert row is not None
    plan = row[0][0]["Plan"]
    return json.loads(json.dumps(plan))


def _nodes(plan: dict) -> list[dict]:
    return [plan, *(n for child in plan.get("Plans", []) for n in _nodes(child))]


@pytest.mark.parametrize(("form", "initplans", "org_in_index_cond"), [
    ("subquery", 1, "$0"), ("citus", 0, "current_setting('app.org_id'"),
])
def test_the_policy_alone_reaches_the_org_index_in_both_forms(fresh_db, form, initplans, org_in_index_cond):
    """The citus form's inlined, STABLE app.current_org() is an index condition itself: no InitPlan."""
    _set_form(fresh_db.admin_url, form)
    nodes = _nodes(_plan(fresh_db.app_url, uuid.uuid4()))
    assert sum(n.get("Parent Relationship") == "InitPlan" for n in nodes) == initplans
    conds = [n.get("Index Cond", "") for n in nodes]
    assert any("org_id" in c and org_in_index_cond in c for c in conds), conds
    assert not any(n["Node Type"] == "Seq Scan" for n in nodes)


def test_migrate_remembers_the_citus_form_and_rewrites_policies_added_later(fresh_db, tmp_path):
    migrate(fresh_db.admin_url, roles=fresh_db.roles, policy_form="citus")
    assert all(not _sublinks(e) for p in _policies(fresh_db.admin_url) if p[0] == "contacts"
               for e in p[2:] if e is not None)
    later = tmp_path / "sql"
    shutil.copytree(SQL_DIR, later)
    (later / "999_widgets.sql").write_text(
        "SET LOCAL ROLE :\"owner_role\";\n"
        "CREATE TABLE widgets (org_id uuid NOT NULL, id uuid NOT NULL, PRIMARY KEY (org_id, id));\n"
        "ALTER TABLE widgets ENABLE ROW LEVEL SECURITY;\nALTER TABLE widgets FORCE ROW LEVEL SECURITY;\n"
        "CREATE POLICY \"Widgets within the current org\" ON widgets USING (org_id = (SELECT app.current_org()));\n")
    assert migrate(fresh_db.admin_url, roles=fresh_db.roles, sql_dir=later) == ["999_widgets.sql"]
    widgets = [p for p in _policies(fresh_db.admin_url) if p[0] == "widgets"]
    assert widgets and widgets[0][2] == "(org_id = app.current_org())"
    migrate(fresh_db.admin_url, roles=fresh_db.roles, sql_dir=later, policy_form="subquery")
    widgets = [p for p in _policies(fresh_db.admin_url) if p[0] == "widgets"]
    assert widgets[0][2] == "(org_id = ( SELECT app.current_org() AS current_org))"


def test_the_audit_finds_nothing_in_the_citus_form(fresh_db):
    _set_form(fresh_db.admin_url, "citus")
    run = run_audit(fresh_db.admin_url)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.findings == ()


def test_atlas_migrate_policy_form_flag_switches_every_policy(fresh_db, monkeypatch, capsys):
    from app import cli

    monkeypatch.setenv("DATABASE_URL", fresh_db.admin_url)
    monkeypatch.setenv("ATLAS_ROLE_PREFIX", fresh_db.roles.owner.removesuffix("_owner"))
    assert cli.main(["migrate", "--policy-form", "citus"]) == 0
    assert all(not _sublinks(e) for p in _policies(fresh_db.admin_url) if p[0] in ("contacts", "notes")
               for e in p[2:] if e is not None)
    with psycopg.connect(fresh_db.admin_url) as conn:
        assert conn.execute("SELECT form FROM atlas_meta.policy_form").fetchone() == ("citus",)
    assert cli.main(["migrate", "--policy-form", "subquery"]) == 0
    assert all(_sublinks(e) for p in _policies(fresh_db.admin_url) if p[0] == "contacts" for e in p[2:] if e)
