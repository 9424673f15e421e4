"""The org's tables, from the catalog: the placed ones (moved with the org) and the control ones.

Control tables (members, invitations) hold org rows but stay in the shared
database whatever the placement (sql/095_placement.sql).
"""
from __future__ import annotations

import psycopg

from app.placement.tables import CONTROL_TABLES, Table, placed_tables


def control_tables(conn: psycopg.Connection) -> list[Table]:
    """members and invitations as Tables (columns from the catalog)."""
    rows = conn.execute(
        "SELECT c.relname::text, array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE a.attgenerated = '')"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
        " WHERE c.relname = ANY(%s) AND c.relkind IN ('r', 'p') GROUP BY c.relname ORDER BY c.relname",
        (sorted(CONTROL_TABLES),)).fetchall()
    return [Table(name, tuple(cols)) for name, cols in rows]


def org_tables(conn: psycopg.Connection, *, app_role: str, with_control: bool) -> list[Table]:
    """Every table holding the org's rows, parents first (control tables before placed ones)."""
    placed = placed_tables(conn, app_role=app_role)
    return [*control_tables(conn), *placed] if with_control else placed
