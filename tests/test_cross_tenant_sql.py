"""Cross-tenant harness at the SQL level, generated from the catalog.

Every table with org_id (the `tenant_table` parameter comes from the migrated
schema, see conftest.py) is attacked as the application role acting in org A:
reads, writes, COPY, and work with no org set. B's rows must be unchanged.
"""
from __future__ import annotations

import psycopg
import pytest

from tests.support import harness

EXPECTED_TENANT_TABLES = {
    "accounts", "activities", "audit_log", "contacts", "conversations", "invitations",
    "jobs", "knowledge_files", "leads", "members", "messages", "notes", "opportunities",
    "org_connections", "projects", "semantic_entities", "sites", "job_results", "api_keys",
    "oauth_codes", "oauth_tokens",
}


@pytest.fixture(scope="module", params=["subquery", "citus"])
def harness_db(request, db_factory):
    """Both policy forms (sql/120_policy_form.sql): each must hold every attack alone."""
    db = db_factory.clone()
    with psycopg.connect(db.admin_url, autocommit=True) as conn:
        conn.execute("SELECT atlas_meta.set_policy_form(%s)", (request.param,))
    yield db
    db_factory.drop(db.name)


@pytest.fixture(scope="module")
def seeded_tables(harness_db):
    return {}


@pytest.fixture
def seeded(harness_db, seeded_tables, tenant_table):
    if tenant_table not in seeded_tables:
        seeded_tables[tenant_table] = harness.seed_two_orgs(harness_db.admin_url, tenant_table)
    return seeded_tables[tenant_table]


def test_harness_covers_every_tenant_table_of_the_product(template_db):
    from tests.support import catalog

    assert set(catalog.tenant_tables(template_db.admin_url)) >= EXPECTED_TENANT_TABLES


@pytest.mark.parametrize("attack", list(harness.ATTACKS))
def test_cross_tenant_attack_fails(harness_db, seeded, attack):
    before_b = harness.snapshot(harness_db.admin_url, seeded, seeded.org_b)
    violations = harness.ATTACKS[attack](harness_db.app_url, seeded)
    assert violations == []
    assert harness.snapshot(harness_db.admin_url, seeded, seeded.org_b) == before_b


def test_harness_reports_a_table_added_without_rls(fresh_db):
    """A tenant table someone forgot to protect is found and its leak reported."""
    with psycopg.connect(fresh_db.admin_url, autocommit=True) as conn:
        conn.execute(
            """
            CREATE TABLE forgotten (
                org_id uuid NOT NULL REFERENCES organizations (id),
                id uuid NOT NULL DEFAULT gen_random_uuid(),
                secret text NOT NULL,
                PRIMARY KEY (org_id, id))
            """
        )
        conn.execute(f"GRANT ALL ON forgotten TO {fresh_db.roles.app}")
    from tests.support import catalog

    assert "forgotten" in catalog.tenant_tables(fresh_db.admin_url)
    seeded = harness.seed_two_orgs(fresh_db.admin_url, "forgotten")
    violations = harness.run_all(fresh_db.admin_url, fresh_db.app_url, seeded)
    assert any("saw" in v and "another org" in v for v in violations)
    assert any("insert with org_id = B: succeeded" in v for v in violations)
    assert "B's rows changed" in violations


def test_harness_reports_a_policy_that_admits_every_row(fresh_db):
    """Loosening one policy (the fail-open shape) is caught by the same attacks."""
    with psycopg.connect(fresh_db.admin_url, autocommit=True) as conn:
        conn.execute('DROP POLICY "Contacts are visible within the current org" ON contacts')
        conn.execute(
            "CREATE POLICY fail_open ON contacts FOR SELECT USING "
            "(app.current_org() IS NULL OR org_id = app.current_org())"
        )
    seeded = harness.seed_two_orgs(fresh_db.admin_url, "contacts")
    violations = harness.no_org_sees_and_writes_nothing(fresh_db.app_url, seeded)
    assert any(v.startswith("org unset: select saw") for v in violations)
