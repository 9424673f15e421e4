"""What the migrated schema says about itself, read from the PostgreSQL catalog.

Tests derive their cases from here (tables with org_id, their keys and
columns), so a table added by a later migration is covered without anyone
remembering to list it.
"""
from __future__ import annotations

from dataclasses import dataclass

import psycopg

SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


def tenant_tables(admin_url: str) -> list[str]:
    """Every ordinary or partitioned table with an org_id column, as schema-qualified names
    (schema omitted for public)."""
    with psycopg.connect(admin_url) as conn:
        rows = conn.execute(
            """
            SELECT CASE WHEN n.nspname = 'public' THEN c.relname::text
                        ELSE n.nspname || '.' || c.relname END
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped
            WHERE c.relkind IN ('r', 'p')
              AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
              AND n.nspname NOT LIKE 'pg_temp%'
            ORDER BY 1
            """
        ).fetchall()
    return [r[0] for r in rows]


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    not_null: bool
    has_default: bool


@dataclass(frozen=True)
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class Constraint:
    name: str
    kind: str  # p, u, f, c
    columns: tuple[str, ...]
    definition: str


def columns(conn: psycopg.Connection, table: str) -> list[Column]:
    rows = conn.execute(
        """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               (a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '')
        FROM pg_attribute a
        WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum
        """,
        (table,),
    ).fetchall()
    return [Column(*r) for r in rows]


def constraints(conn: psycopg.Connection, table: str) -> list[Constraint]:
    rows = conn.execute(
        """
        SELECT con.conname, con.contype,
               ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, i)
                     JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
                     ORDER BY k.i)::text[],
               pg_get_constraintdef(con.oid)
        FROM pg_constraint con
        WHERE con.conrelid = %s::regclass
        ORDER BY con.conname
        """,
        (table,),
    ).fetchall()
    return [Constraint(name, kind, tuple(cols or ()), definition) for name, kind, cols, definition in rows]


def foreign_keys(conn: psycopg.Connection, table: str) -> list[ForeignKey]:
    rows = conn.execute(
        """
        SELECT con.conname,
               ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, i)
                     JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
                     ORDER BY k.i)::text[],
               con.confrelid::regclass::text,
               ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(attnum, i)
                     JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
                     ORDER BY k.i)::text[]
        FROM pg_constraint con
        WHERE con.conrelid = %s::regclass AND con.contype = 'f'
        ORDER BY con.conname
        """,
        (table,),
    ).fetchall()
    return [ForeignKey(n, tuple(c), rt, tuple(rc)) for n, c, rt, rc in rows]


def has_org_id(conn: psycopg.Connection, table: str) -> bool:
    return any(c.name == "org_id" for c in columns(conn, table))
