"""The schema's shape makes cross-org references impossible and fits distribution by org_id.

Generated from the catalog: every table with org_id is checked.
"""
from __future__ import annotations

import psycopg
import pytest

from tests.support import catalog


@pytest.fixture(scope="module")
def conn(db_factory):
    db = db_factory.clone()
    with psycopg.connect(db.admin_url) as connection:
        yield connection
    db_factory.drop(db.name)


def test_org_id_is_required_and_references_organizations(conn, tenant_table):
    org_id = next(c for c in catalog.columns(conn, tenant_table) if c.name == "org_id")
    assert org_id.type == "uuid" and org_id.not_null
    assert any(
        fk.columns == ("org_id",) and fk.ref_table == "organizations"
        for fk in catalog.foreign_keys(conn, tenant_table)
    )


def test_primary_key_and_unique_constraints_include_org_id(conn, tenant_table):
    keys = [c for c in catalog.constraints(conn, tenant_table) if c.kind in ("p", "u")]
    assert any(c.kind == "p" for c in keys), f"{tenant_table} has no primary key"
    for key in keys:
        assert "org_id" in key.columns, f"{key.name} on {tenant_table} omits org_id"


def test_unique_indexes_include_org_id(conn, tenant_table):
    rows = conn.execute(
        """
        SELECT i.indexrelid::regclass::text,
               ARRAY(SELECT a.attname FROM pg_attribute a
                     WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey))::text[]
        FROM pg_index i WHERE i.indrelid = %s::regclass AND i.indisunique
        """,
        (tenant_table,),
    ).fetchall()
    for name, cols in rows:
        assert "org_id" in cols, f"unique index {name} omits org_id"


def test_foreign_keys_include_org_id_or_target_a_global_table(conn, tenant_table):
    """A tenant row can point only at a row of its own org (or at a global reference table)."""
    for fk in catalog.foreign_keys(conn, tenant_table):
        if fk.columns == ("org_id",):
            continue
        if catalog.has_org_id(conn, fk.ref_table):
            assert "org_id" in fk.columns, f"{fk.name} on {tenant_table} can cross orgs"
            position = fk.columns.index("org_id")
            assert fk.ref_columns[position] == "org_id", f"{fk.name} maps org_id to another column"


def test_a_row_cannot_reference_another_orgs_row(fresh_db):
    """Structurally impossible, not merely filtered: even the superuser cannot do it."""
    from tests.support import rows

    with psycopg.connect(fresh_db.admin_url, autocommit=True) as conn:
        org_a, org_b = rows.make_org(conn, "Alpha"), rows.make_org(conn, "Bravo")
        account_b = rows.insert_row(conn, "accounts", org_b)
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            rows.insert_row(conn, "contacts", org_a, account_id=account_b["id"])
        conversation_b = rows.insert_row(conn, "conversations", org_b)
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            rows.insert_row(conn, "messages", org_a, conversation_id=conversation_b["id"])


def test_tenant_tables_have_rls_enabled_and_forced(conn, tenant_table):
    enabled, forced = conn.execute(
        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = %s::regclass",
        (tenant_table,),
    ).fetchone()
    assert enabled and forced


def test_no_sequences_exist_to_leak_row_counts(conn):
    count = conn.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
    ).fetchone()[0]
    assert count == 0
