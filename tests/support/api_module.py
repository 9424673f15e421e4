"""Module-scoped variant of tests/support/api.py's two_orgs, and request bodies generated from declarations.

Signing up six users and building two orgs through the API costs far more
than the tests that use them, so modules whose tests only add rows of their
own share one world: the `shared_orgs` fixture (registered for every module
through `pytest_plugins` in tests/conftest.py).
"""
from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import psycopg
import psycopg.rows
import pytest
from psycopg import sql

from app.devdb.databases import DatabaseFactory
from app.entities import Entity, Field
from tests.support import catalog, rows
from tests.support.api import ApiUser, TwoOrgs, build_two_orgs, close_app, make_app


@pytest.fixture(scope="module")
def shared_orgs(db_factory: DatabaseFactory) -> Iterator[TwoOrgs]:
    """Acme and Globex with an owner, admin and member each, on a database of this module's own."""
    db = db_factory.clone()
    app = make_app(db)
    try:
        yield build_two_orgs(app, db)
    finally:
        close_app(app)
        db_factory.drop(db.name)


# ---- Bodies and references generated from app.entities, so a new field or entity is covered unasked.

PATTERNED: dict[str, tuple[str, str]] = {"currency": ("EUR", "GBP"), "country": ("DE", "FR")}


def sample_value(field: Field, variant: int) -> Any:
    """A valid value for `field`; variants 1 and 2 differ, so a PATCH with variant 2 changes every field."""
    if field.name in PATTERNED:
        return PATTERNED[field.name][variant % 2]
    if field.name == "filename":
        return f"file-{uuid.uuid4().hex[:12]}.md"
    kind = field.kind
    if kind == "text":
        return f"{field.name} {variant}"[: field.max_len or None]
    if kind == "email":
        return f"person{variant}@example.test"
    if kind == "choice":
        return field.choices[variant % len(field.choices)]
    if kind == "int":
        return int(field.minimum or 0) + variant
    if kind == "decimal":
        return f"{1200 + variant}.50"
    if kind == "date":
        return f"2026-0{variant}-15"
    if kind == "datetime":
        return f"2026-0{variant}-15T09:30:00+00:00"
    if kind == "bool":
        return variant % 2 == 0
    raise AssertionError(f"no sample for field kind {kind} ({field.name})")


def sample_body(entity: Entity, *, variant: int, refs: Mapping[str, uuid.UUID] | None = None) -> dict[str, Any]:
    """Every writable field: plain ones from sample_value, references from `refs` (as strings)."""
    body = {f.name: sample_value(f, variant) for f in entity.fields if f.writable and f.kind != "ref"}
    body.update({name: str(value) for name, value in (refs or {}).items()})
    return body


def same_value(field: Field, sent: Any, got: Any) -> bool:
    """Whether the API's rendering of a column is the value that was sent."""
    if sent is None or got is None:
        return sent is got
    if field.kind == "datetime":
        return dt.datetime.fromisoformat(sent) == dt.datetime.fromisoformat(got)
    if field.kind == "decimal":
        return decimal.Decimal(str(sent)) == decimal.Decimal(got)
    return sent == got


def ref_tables(conn: psycopg.Connection, entity: Entity) -> dict[str, str]:
    """Writable reference field -> the table its (org_id, field) foreign key points at."""
    out: dict[str, str] = {}
    for fk in catalog.foreign_keys(conn, entity.table):
        local = [c for c in fk.columns if c != "org_id"]
        if "org_id" in fk.columns and len(local) == 1 and local[0] in entity.writable:
            out[local[0]] = fk.ref_table
    return out


def row_of(conn: psycopg.Connection, world: TwoOrgs, org: str, table: str) -> uuid.UUID:
    """The id of a fresh row of `table` in org `org` ("a"/"b"); for members, the org owner's user id."""
    if table == "members":
        return world.user(org, "owner").user_id
    return rows.insert_row(conn, table, world.org(org))["id"]


def refs_in(conn: psycopg.Connection, world: TwoOrgs, org: str, entity: Entity) -> dict[str, uuid.UUID]:
    """A target row in `org` for every reference field of `entity`."""
    return {name: row_of(conn, world, org, table) for name, table in ref_tables(conn, entity).items()}


def org_snapshot(admin_url: str, org_id: uuid.UUID) -> dict[str, list[tuple]]:
    """Every row of every tenant table that belongs to `org_id`, read as the superuser (no RLS)."""
    tables = catalog.tenant_tables(admin_url)
    with psycopg.connect(admin_url) as conn:
        return {
            table: conn.execute(
                sql.SQL("SELECT * FROM {} WHERE org_id = %s ORDER BY 1, 2").format(
                    sql.SQL(".").join(map(sql.Identifier, table.split(".")))),
                (org_id,),
            ).fetchall()
            for table in tables
        }


def audit_rows(admin_url: str, org_id: uuid.UUID, **where: Any) -> list[dict]:
    """audit_log rows of `org_id` matching column = value, read as the superuser."""
    terms = [sql.SQL("org_id = %(org_id)s")] + [
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in where]
    query = sql.SQL("SELECT * FROM audit_log WHERE {} ORDER BY occurred_at, id").format(sql.SQL(" AND ").join(terms))
    with psycopg.connect(admin_url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(query, {"org_id": org_id, **where}).fetchall()


def call(user: ApiUser, method: str, path: str, json: Any = None, **kw: Any):  # type: ignore[no-untyped-def]
    """user.get/post/patch/delete by method name."""
    if method == "GET":
        return user.get(path, **kw)
    return getattr(user, method.lower())(path, json=json, **kw)
