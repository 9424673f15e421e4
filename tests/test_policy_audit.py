"""The policy audit (scripts/audit_policies.sql, run by psql) catches every kind of isolation defect.

Each test breaks one thing in a scratch clone and expects the audit to name it
and exit non-zero; the untouched schema must give no finding at all. Role-level
defects are given to throwaway stand-in roles recorded in the clone's
atlas_meta.roles, never to the run's shared roles.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql

from app.devdb.audit import AUDIT_SCRIPT, AuditRun, documented_codes, run_audit

PSQL_ERROR_EXIT = 3  # psql's exit code when ON_ERROR_STOP stops the script


@dataclass(frozen=True)
class Defect:
    """Statements that break one thing, and the finding they must produce.

    Statements and the expected object may name {app}, {agent}, {db}, {owner}, {queue},
    {standin} and {group}; the last two are throwaway roles (see `stand_in`).
    """

    code: str
    object: str
    statements: tuple[str, ...]
    variant: str = ""
    needs_stand_in: bool = False


DEFECTS = (
    Defect("rls_disabled", "public.contacts", ("ALTER TABLE contacts DISABLE ROW LEVEL SECURITY",)),
    Defect("rls_not_forced", "public.contacts", ("ALTER TABLE contacts NO FORCE ROW LEVEL SECURITY",)),
    Defect("policy_missing", "public.contacts",
           ('DROP POLICY "Contacts are deleted only within the current org" ON contacts',)),
    Defect("policy_not_org_scoped", "public.sites",
           ('CREATE POLICY "Named sites are visible" ON sites FOR SELECT USING (name IS NOT NULL)',)),
    Defect("policy_fail_open", "public.notes",
           ("""CREATE POLICY "Notes fail open" ON notes FOR SELECT
               USING (current_setting('app.org_id', true) IS NULL
                      OR org_id = current_setting('app.org_id', true)::uuid)""",), variant="setting_is_null_or"),
    Defect("policy_fail_open", "public.notes",
           ("""CREATE POLICY "Notes fail open" ON notes FOR SELECT
               USING (app.current_org() IS NULL OR org_id = app.current_org())""",), variant="helper_is_null_or"),
    Defect("policy_fail_open", "public.notes",
           ("""CREATE POLICY "Notes fail open" ON notes FOR SELECT
               USING (org_id = (SELECT app.current_org()) OR (SELECT app.current_org()) IS NULL)""",),
           variant="or_helper_is_null"),
    Defect("policy_fail_open", "public.notes",
           ('CREATE POLICY "Notes are all visible" ON notes FOR SELECT USING (true)',), variant="literal_true"),
    Defect("policy_fail_open", "public.notes",
           ("SELECT atlas_meta.set_policy_form('citus')",
            """CREATE POLICY "Notes fail open" ON notes FOR SELECT
               USING (app.current_org() IS NULL OR org_id = app.current_org())""",), variant="citus_form"),
    Defect("policy_subquery_in_citus_form", "public.notes",
           ("SELECT atlas_meta.set_policy_form('citus')",
            """CREATE POLICY "Notes by a subquery" ON notes FOR SELECT
               USING (org_id = (SELECT app.current_org()))""",)),
    Defect("policy_fail_open", "public.notes",
           ("""CREATE POLICY "Notes leak on insert" ON notes FOR INSERT
               WITH CHECK (org_id = app.current_org() OR true)""",), variant="true_disjunct"),
    Defect("child_table_unprotected", "public.events_2024", (
        "CREATE TABLE events (org_id uuid NOT NULL, happened_on date NOT NULL) PARTITION BY RANGE (happened_on)",
        "ALTER TABLE events ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE events FORCE ROW LEVEL SECURITY",
        'CREATE POLICY "Events within the current org" ON events USING (org_id = app.current_org())',
        "CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
    ), variant="partition"),
    Defect("child_table_unprotected", "public.contacts_archive",
           ("CREATE TABLE contacts_archive () INHERITS (contacts)",), variant="inheritance_child"),
    Defect("global_table_not_allowlisted", "public.feature_flags",
           ("CREATE TABLE feature_flags (name text PRIMARY KEY, enabled boolean NOT NULL)",)),
    Defect("global_table_rls_missing", "public.users", ("ALTER TABLE users NO FORCE ROW LEVEL SECURITY",)),
    Defect("app_role_missing", "agent",
           ("UPDATE atlas_meta.roles SET role_name = 'atlas_audit_no_such_role' WHERE purpose = 'agent'",)),
    Defect("app_role_superuser", "{standin}", ("ALTER ROLE {standin} SUPERUSER",), needs_stand_in=True),
    Defect("app_role_bypassrls", "{standin}", ("ALTER ROLE {standin} BYPASSRLS",), needs_stand_in=True),
    Defect("app_role_bypassrls", "{group}", ("ALTER ROLE {group} BYPASSRLS", "GRANT {group} TO {standin}"),
           variant="inherited", needs_stand_in=True),
    Defect("app_role_dangerous_attribute", "{standin}", ("ALTER ROLE {standin} CREATEROLE",),
           needs_stand_in=True),
    Defect("app_role_predefined_role", "pg_read_all_data", ("GRANT pg_read_all_data TO {standin}",),
           needs_stand_in=True),
    Defect("app_role_owns_object", "public.contacts", ("ALTER TABLE contacts OWNER TO {standin}",),
           needs_stand_in=True),
    Defect("app_role_owns_object", "public.contacts", ("GRANT {owner} TO {standin}",),
           variant="member_of_owner", needs_stand_in=True),
    Defect("security_definer_search_path", "public.whoami()", (
        "CREATE FUNCTION public.whoami() RETURNS text LANGUAGE sql SECURITY DEFINER AS 'SELECT current_user'",
        "REVOKE EXECUTE ON FUNCTION public.whoami() FROM PUBLIC",
    )),
    Defect("security_definer_executable", "public.whoami()", (
        """CREATE FUNCTION public.whoami() RETURNS text LANGUAGE sql SECURITY DEFINER
           SET search_path = pg_catalog AS 'SELECT current_user'""",
        "REVOKE EXECUTE ON FUNCTION public.whoami() FROM PUBLIC",
        "GRANT EXECUTE ON FUNCTION public.whoami() TO {app}",
    )),
    Defect("view_not_security_invoker", "public.contact_names",
           ("CREATE VIEW contact_names AS SELECT org_id, first_name FROM contacts",)),
    Defect("view_not_security_invoker", "public.contact_names", (
        "CREATE VIEW contact_rows WITH (security_invoker = true) AS SELECT * FROM contacts",
        "CREATE VIEW contact_names AS SELECT org_id, first_name FROM contact_rows",
    ), variant="through_an_invoker_view"),
    Defect("view_not_security_invoker", "public.user_emails",
           ("CREATE VIEW user_emails AS SELECT email FROM users",), variant="global_rls_table"),
    Defect("materialized_view_readable", "public.contact_counts", (
        "CREATE MATERIALIZED VIEW contact_counts AS SELECT org_id, count(*) FROM contacts GROUP BY org_id",
        "GRANT SELECT ON contact_counts TO {agent}",
    )),
    Defect("foreign_table_readable", "public.remote_contacts", (
        "CREATE FOREIGN DATA WRAPPER audit_test_fdw",
        "CREATE SERVER audit_test_server FOREIGN DATA WRAPPER audit_test_fdw",
        "CREATE FOREIGN TABLE remote_contacts (org_id uuid, name text) SERVER audit_test_server",
        "GRANT SELECT ON remote_contacts TO {app}",
    )),
    Defect("truncate_granted", "public.accounts", ("GRANT TRUNCATE ON accounts TO {app}",)),
    Defect("sequence_readable", "public.invoice_numbers", (
        "CREATE SEQUENCE invoice_numbers",
        "GRANT USAGE ON SEQUENCE invoice_numbers TO {app}",
    )),
    Defect("set_config_executable", "pg_catalog.set_config(text,text,boolean)",
           ("GRANT EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) TO {app}",)),
    Defect("pg_settings_updatable", "pg_catalog.pg_settings",
           ("GRANT UPDATE ON pg_catalog.pg_settings TO {agent}",)),
    Defect("temp_privilege", "{db}", ("GRANT TEMPORARY ON DATABASE {db} TO {app}",)),
    Defect("database_create_privilege", "{db}", ("GRANT CREATE ON DATABASE {db} TO {agent}",)),
    Defect("schema_writable", "app", ("GRANT CREATE ON SCHEMA app TO {agent}",)),
    # The job queue's one cross-org path (sql/085_jobs.sql) must stay one function wide.
    Defect("job_queue_widened", "public.peek()", (
        """CREATE FUNCTION public.peek() RETURNS bigint LANGUAGE sql SECURITY DEFINER
           SET search_path = pg_catalog AS 'SELECT count(*) FROM public.jobs'""",
        "REVOKE EXECUTE ON FUNCTION public.peek() FROM PUBLIC",
        "ALTER FUNCTION public.peek() OWNER TO {queue}",
    )),
    Defect("policy_not_org_scoped", "public.jobs", (
        'ALTER POLICY "Active jobs are found by the job queue" ON jobs USING (status IS NOT NULL)',
    ), variant="job_queue_policy_widened"),
    Defect("security_definer_executable", "app.due_jobs(integer,integer,uuid)",
           ("GRANT EXECUTE ON FUNCTION app.due_jobs(integer, integer, uuid) TO {app}",), variant="job_queue_finder"),
    # Where dedicated databases are (sql/102_job_databases.sql): for the worker role, on org_placements only.
    Defect("security_definer_executable", "app.job_databases()",
           ("GRANT EXECUTE ON FUNCTION app.job_databases() TO {app}",), variant="job_databases"),
    Defect("policy_fail_open", "public.organizations", (
        'CREATE POLICY "Orgs are listed by the job queue" ON organizations FOR SELECT TO {queue} USING (true)',
    ), variant="job_queue_locates_more"),
)


def _defect_id(defect: Defect) -> str:
    return f"{defect.code}-{defect.variant}" if defect.variant else defect.code


def _execute(conninfo: str, statements: tuple[str, ...], names: dict[str, str]) -> None:
    idents = {key: sql.Identifier(value) for key, value in names.items()}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for statement in statements:
            conn.execute(sql.SQL(statement).format(**idents))


def _names(db, stand_in_roles: dict[str, str] | None = None) -> dict[str, str]:
    names = {"app": db.roles.app, "agent": db.roles.agent, "owner": db.roles.owner, "db": db.name,
             "queue": db.roles.queue}
    return names | (stand_in_roles or {})


def _assert_fails_with(run: AuditRun, code: str, object_name: str) -> None:
    assert run.returncode == PSQL_ERROR_EXIT, run.stdout + run.stderr
    assert code in run.codes_for(object_name), (
        f"expected [{code}] on {object_name}; got {[(f.check, f.object) for f in run.findings]}"
    )
    assert "policy audit failed" in run.stderr


@pytest.fixture
def stand_in(fresh_db, db_factory):
    """Two throwaway roles: `standin`, recorded as this clone's agent, and `group`, granted nothing.

    Role attributes and memberships are cluster-wide; the run's shared roles are
    used by every parallel test, so defects go to these and they are dropped.
    """
    token = secrets.token_hex(3)
    roles = {"standin": f"{db_factory.prefix}_standin_{token}", "group": f"{db_factory.prefix}_group_{token}"}
    with psycopg.connect(fresh_db.admin_url, autocommit=True) as conn:
        for role in roles.values():
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        conn.execute("UPDATE atlas_meta.roles SET role_name = %s WHERE purpose = 'agent'", (roles["standin"],))
    try:
        yield roles
    finally:
        with psycopg.connect(fresh_db.admin_url, autocommit=True) as conn:
            for role in roles.values():
                ident = sql.Identifier(role)
                conn.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(ident))
                conn.execute(sql.SQL("DROP OWNED BY {}").format(ident))
            for role in roles.values():
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_migrated_schema_has_no_findings(fresh_db):
    run = run_audit(fresh_db.admin_url)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.findings == ()
    assert "policy audit: no findings" in run.stdout


def test_stand_in_agent_alone_has_no_findings(fresh_db, stand_in):
    """The stand-in fixture is a clean baseline: every role-level finding below is the defect's."""
    run = run_audit(fresh_db.admin_url)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("defect", [d for d in DEFECTS if not d.needs_stand_in], ids=_defect_id)
def test_audit_reports_defect(fresh_db, defect):
    names = _names(fresh_db)
    _execute(fresh_db.admin_url, defect.statements, names)
    _assert_fails_with(run_audit(fresh_db.admin_url), defect.code, defect.object.format(**names))


@pytest.mark.parametrize("defect", [d for d in DEFECTS if d.needs_stand_in], ids=_defect_id)
def test_audit_reports_role_defect(fresh_db, stand_in, defect):
    names = _names(fresh_db, stand_in)
    _execute(fresh_db.admin_url, defect.statements, names)
    _assert_fails_with(run_audit(fresh_db.admin_url), defect.code, defect.object.format(**names))


def test_unforced_tenant_table_is_reported(fresh_db, tenant_table):
    table = sql.SQL(".").join(sql.Identifier(part) for part in tenant_table.split("."))
    with psycopg.connect(fresh_db.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER TABLE {} NO FORCE ROW LEVEL SECURITY").format(table))
    run = run_audit(fresh_db.admin_url)
    qualified = tenant_table if "." in tenant_table else f"public.{tenant_table}"
    _assert_fails_with(run, "rls_not_forced", qualified)
    assert run.objects_for("rls_not_forced") == {qualified}


def test_adding_a_tenant_table_without_policies_makes_the_audit_fail(fresh_db):
    _execute(fresh_db.admin_url, (
        "CREATE TABLE widgets (org_id uuid NOT NULL, id uuid NOT NULL, PRIMARY KEY (org_id, id))",
        "ALTER TABLE widgets ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE widgets FORCE ROW LEVEL SECURITY",
    ), _names(fresh_db))
    run = run_audit(fresh_db.admin_url)
    _assert_fails_with(run, "policy_missing", "public.widgets")
    missing = {f.detail.split()[4] for f in run.findings if f.check == "policy_missing"}
    assert missing == {"SELECT", "INSERT", "UPDATE", "DELETE"}


SAFE_VARIANTS = {
    "for_all_policy_covers_every_command": (
        "CREATE TABLE widgets (org_id uuid NOT NULL, id uuid NOT NULL, PRIMARY KEY (org_id, id))",
        "ALTER TABLE widgets ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE widgets FORCE ROW LEVEL SECURITY",
        'CREATE POLICY "Widgets within the current org" ON widgets USING (org_id = (SELECT app.current_org()))',
    ),
    "security_invoker_view": (
        "CREATE VIEW contact_names WITH (security_invoker = on) AS SELECT org_id, first_name FROM contacts",
    ),
    "pinned_definer_function_nobody_may_call": (
        """CREATE FUNCTION public.whoami() RETURNS text LANGUAGE sql SECURITY DEFINER
           SET search_path = pg_catalog AS 'SELECT current_user'""",
        "REVOKE EXECUTE ON FUNCTION public.whoami() FROM PUBLIC",
    ),
    "restrictive_policy_without_org": (
        'CREATE POLICY "Only named sites" ON sites AS RESTRICTIVE FOR SELECT USING (name IS NOT NULL)',
    ),
    "not_null_check_on_the_org_is_not_fail_open": (
        """CREATE POLICY "Notes need an org" ON notes AS PERMISSIVE FOR SELECT
           USING (app.current_org() IS NOT NULL AND org_id = app.current_org())""",
    ),
}


@pytest.mark.parametrize("statements", SAFE_VARIANTS.values(), ids=SAFE_VARIANTS.keys())
def test_safe_variants_are_not_reported(fresh_db, statements):
    _execute(fresh_db.admin_url, statements, _names(fresh_db))
    run = run_audit(fresh_db.admin_url)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.findings == ()


def test_every_documented_check_has_a_defect_test_and_appears_in_the_query():
    documented = documented_codes()
    assert documented == {d.code for d in DEFECTS}
    script = AUDIT_SCRIPT.read_text(encoding="utf-8")
    body = script.split("WITH RECURSIVE", 1)[1]
    assert {code for code in documented if re.search(rf"'{code}'", body)} == documented
