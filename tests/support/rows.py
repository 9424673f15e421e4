"""Generic row factory: a valid row for any table, built from the catalog.

Seeds run as the superuser (RLS does not apply to it). NOT NULL columns
without defaults get a value that fits their type and simple CHECK lists;
NOT NULL foreign keys get a parent row of the same org, made the same way.
A table this cannot fill fails loudly, which is the point: a new table must
be seedable to be covered by the cross-tenant harness.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
import uuid
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from tests.support import catalog

# Dates differ row to row: a table keyed by (org_id, day) (agent_usage) takes several rows per org.
_DAYS = itertools.count()
_CHECK_LIST = re.compile(r"\(?(\w+) = ANY \(ARRAY\['([^']*)'")


def _allowed_first_values(conn: psycopg.Connection, table: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for con in catalog.constraints(conn, table):
        if con.kind == "c":
            match = _CHECK_LIST.search(con.definition)
            if match:
                values.setdefault(match.group(1), match.group(2))
    return values


def _value_for(column: catalog.Column, tag: str) -> Any:
    t = column.type
    if column.name == "email" or column.name.endswith("_email"):
        return f"{tag}@example.test"
    if t == "uuid":
        return uuid.uuid4()
    if t.endswith("[]"):
        return [tag]
    if column.name.endswith("_hash") and t == "text":  # a sha256 hex digest (sessions, sso_flows)
        return hashlib.sha256(tag.encode()).hexdigest()
    if t.startswith(("text", "character varying")):
        return tag
    if t.startswith("character("):
        width = int(re.search(r"\((\d+)\)", t).group(1))  # type: ignore[union-attr]
        return ("X" * width)[:width]
    if t in ("integer", "bigint", "smallint") or t.startswith("numeric"):
        return 1
    if t == "boolean":
        return False
    if t in ("jsonb", "json"):
        return Jsonb({})
    if t.startswith("timestamp"):
        return dt.datetime.now(dt.UTC)
    if t == "date":
        return dt.date(2000, 1, 1) + dt.timedelta(days=next(_DAYS))
    if t == "inet":
        return "127.0.0.1"
    raise NotImplementedError(f"rows.py cannot make a value of type {t} ({column.name})")


def insert_row(conn: psycopg.Connection, table: str, org_id: uuid.UUID | None, **given: Any) -> dict:
    """Insert one valid row (as the connected role) and return it as a dict."""
    cols = catalog.columns(conn, table)
    fks = catalog.foreign_keys(conn, table)
    choices = _allowed_first_values(conn, table)
    values: dict[str, Any] = dict(given)
    if org_id is not None and any(c.name == "org_id" for c in cols):
        values.setdefault("org_id", org_id)
    tag = "h" + uuid.uuid4().hex[:12]
    by_name = {c.name: c for c in cols}
    for fk in fks:
        local = [c for c in fk.columns if c != "org_id"]
        if any(c in values for c in local):
            continue
        if any(by_name[c].not_null and not by_name[c].has_default for c in local):
            parent = insert_row(conn, fk.ref_table, org_id)
            for mine, theirs in zip(fk.columns, fk.ref_columns):
                values[mine] = parent[theirs]
    for column in cols:
        if column.name in values or column.has_default or not column.not_null:
            continue
        values[column.name] = choices.get(column.name) or _value_for(column, tag)
    names = list(values)
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING *").format(
        sql.SQL(".").join(sql.Identifier(p) for p in table.split(".")),
        sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(", ").join(sql.Placeholder() * len(names)),
    )
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute(query, [values[n] for n in names]).fetchone()  # type: ignore[return-value]


def make_org(conn: psycopg.Connection, name: str) -> uuid.UUID:
    org = uuid.uuid4()
    conn.execute(
        "INSERT INTO organizations (id, name, slug) VALUES (%s, %s, %s)",
        (org, name, f"{name.lower()}-{org.hex[:8]}"),
    )
    return org
