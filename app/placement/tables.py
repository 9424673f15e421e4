"""The placed tables of a database, in foreign-key order, and what a move does to one.

A placed table is a table of the public schema with an org_id column, other
than the control tables (members, invitations: identity lives in the shared
database). The list comes from the catalog, so a tenant table added by a later
migration moves with its org without anyone listing it. Rows are compared by
the MD5 of their text form, under fixed output settings, so the same row
hashes alike in both databases; `checksum` (MD5 over the sorted row hashes) is
the portable digest an export's manifest keeps. A move, which compares two live
databases with the org's writes held, uses `fingerprint` instead: a count and
two sums of 64-bit row hashes, read in one scan without a sort.

Tables the application role may not UPDATE (audit_log, idempotency_keys) are
append-only: their rows never change, and control-plane requests of a dedicated
org add some in the shared database (sql/095_placement.sql). They are copied
additively (rows missing in the target are added, none removed) and verified as
"every source row is in the target"; every other table must match exactly.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from app.errors.operations import MoveError

CONTROL_TABLES = frozenset({"members", "invitations", "sso_providers", "sso_flows", "org_roles", "scim_tokens",
                            "scim_users"})  # identity: shared database (org_roles, scim_*: sql/144, 146)
# Output settings under which a row's text (and so its hash) is the same in every database.
STABLE_OUTPUT = ("SET TimeZone = 'UTC'", "SET DateStyle = 'ISO, YMD'", "SET IntervalStyle = 'postgres'",
                 "SET extra_float_digits = 3", "SET bytea_output = 'hex'")


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    append_only: bool = False
    by_text: frozenset[str] = frozenset()  # columns `fingerprint` hashes by their text (no extended hash function)

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier("public", self.name)

    @property
    def cols(self) -> sql.Composable:
        return sql.SQL(", ").join(map(sql.Identifier, self.columns))

    def where(self, org: uuid.UUID) -> sql.Composable:
        """The org's placed rows of this table."""
        return sql.SQL("org_id = {}").format(sql.Literal(str(org)))

    def row_hash(self) -> sql.Composable:
        return sql.SQL("md5(ROW({})::text)").format(self.cols)

    def row_hash64(self, seed: int) -> sql.Composable:
        """A 64-bit hash of the row's values (`fingerprint`'s), from each column type's own hash function."""
        values = sql.SQL(", ").join(
            sql.SQL("{}::text").format(sql.Identifier(c)) if c in self.by_text else sql.Identifier(c)
            for c in self.columns)
        # hash_record_extended adds the columns' hashes linearly, so a sum of it over rows would only compare
        # each column's values apart (two rows swapping a value would sum alike); hashing its result again
        # makes each row's hash a function of the whole row.
        return sql.SQL("hashtextextended(hash_record_extended(ROW({}), {seed})::text, {seed})").format(
            values, seed=sql.Literal(seed))


def stable_output(conn: psycopg.Connection) -> None:
    conn.execute("; ".join(STABLE_OUTPUT))  # one round trip (no parameters: several statements are allowed)


def placed_tables(conn: psycopg.Connection, *, app_role: str) -> list[Table]:
    """Every placed table, parents before children; MoveError if one lacks the org_hold trigger."""
    rows = conn.execute(
        """
        SELECT c.relname::text,
               array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE a.attgenerated = ''),
               array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE a.attgenerated = '' AND NOT h.hashed),
               EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = 'org_hold'),
               NOT has_table_privilege(%s, c.oid, 'UPDATE')
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        JOIN pg_type ty ON ty.oid = a.atttypid
        -- hashed by value: a type (or an array of a type) with a default hash opclass that has an extended
        -- hash function, under a deterministic collation if any; any other column by its text
        CROSS JOIN LATERAL (SELECT EXISTS (
            SELECT 1 FROM pg_opclass o
            JOIN pg_am m ON m.oid = o.opcmethod AND m.amname = 'hash'
            JOIN pg_amproc p ON p.amprocfamily = o.opcfamily AND p.amprocnum = 2
                 AND p.amproclefttype = o.opcintype AND p.amprocrighttype = o.opcintype
            WHERE o.opcdefault
              AND o.opcintype = CASE WHEN ty.typcategory = 'A' AND ty.typelem <> 0 THEN ty.typelem ELSE ty.oid END)
            AND (a.attcollation = 0 OR (SELECT l.collisdeterministic FROM pg_collation l
                                        WHERE l.oid = a.attcollation)) AS hashed) h
        WHERE c.relkind IN ('r', 'p')
          AND EXISTS (SELECT 1 FROM pg_attribute o WHERE o.attrelid = c.oid AND o.attname = 'org_id'
                      AND NOT o.attisdropped)
          AND NOT (c.relname = ANY(%s))
        GROUP BY c.oid, c.relname
        ORDER BY c.relname
        """, (app_role, sorted(CONTROL_TABLES))).fetchall()
    unguarded = [name for name, _, _, guarded, _ in rows if not guarded]
    if unguarded:
        raise MoveError(f"placed tables without the org_hold trigger: {', '.join(unguarded)};"
                        " call app.attach_org_hold() for them in a migration")
    tables = {name: Table(name, tuple(cols), append_only, frozenset(by_text or ()))
              for name, cols, by_text, _, append_only in rows}
    edges = conn.execute(
        """
        SELECT DISTINCT c.relname::text, p.relname::text
        FROM pg_constraint con
        JOIN pg_class c ON c.oid = con.conrelid
        JOIN pg_class p ON p.oid = con.confrelid
        WHERE con.contype = 'f' AND c.relname = ANY(%s) AND p.relname = ANY(%s) AND c.oid <> p.oid
        """, (list(tables), list(tables))).fetchall()
    return _parents_first(tables, edges)


def _parents_first(tables: dict[str, Table], edges: Iterable[tuple[str, str]]) -> list[Table]:
    parents: dict[str, set[str]] = {name: set() for name in tables}
    for child, parent in edges:
        parents[child].add(parent)
    ordered: list[Table] = []
    while parents:
        ready = sorted(name for name, needs in parents.items() if not needs)
        if not ready:
            raise MoveError(f"foreign keys form a cycle among {', '.join(sorted(parents))}")
        for name in ready:
            ordered.append(tables[name])
            del parents[name]
        for needs in parents.values():
            needs.difference_update(ready)
    return ordered


def copy_rows(source: psycopg.Connection, target: psycopg.Connection, table: Table, org: uuid.UUID,
              *, hashes: list[str] | None = None) -> None:
    """Stream the org's rows (or only those with these hashes) from source into target with COPY."""
    select = sql.SQL("SELECT {} FROM {} WHERE {}").format(table.cols, table.ident, table.where(org))
    if hashes is not None:
        select = sql.SQL("{} AND {} = ANY({})").format(select, table.row_hash(), sql.Literal(hashes))
    out = sql.SQL("COPY ({}) TO STDOUT").format(select)
    into = sql.SQL("COPY {} ({}) FROM STDIN").format(table.ident, table.cols)
    with source.cursor().copy(out) as reading, target.cursor().copy(into) as writing:
        for block in reading:
            writing.write(block)


def delete_rows(conn: psycopg.Connection, table: Table, org: uuid.UUID, *, hashes: list[str] | None = None) -> int:
    statement = sql.SQL("DELETE FROM {} WHERE {}").format(table.ident, table.where(org))
    if hashes is not None:
        statement = sql.SQL("{} AND {} = ANY({})").format(statement, table.row_hash(), sql.Literal(hashes))
    return conn.execute(statement).rowcount


def row_hashes(conn: psycopg.Connection, table: Table, org: uuid.UUID) -> set[str]:
    query = sql.SQL("SELECT {} FROM {} WHERE {}").format(table.row_hash(), table.ident, table.where(org))
    return {row[0] for row in conn.execute(query)}


def checksum(conn: psycopg.Connection, table: Table, org: uuid.UUID) -> tuple[int, str]:
    """(row count, MD5 over the sorted row hashes) of the org's rows in one table."""
    query = sql.SQL("SELECT count(*), coalesce(md5(string_agg(h, '' ORDER BY h)), '')"
                    " FROM (SELECT {} AS h FROM {} WHERE {}) AS r").format(
        table.row_hash(), table.ident, table.where(org))
    row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


Fingerprint = tuple[int, int, int]


def fingerprints(conn: psycopg.Connection, tables: list[Table], org: uuid.UUID) -> dict[str, Fingerprint]:
    """Each table's (row count, and the sums of two independently seeded 64-bit hashes) of the org's rows.

    A sum does not depend on the rows' order, so one scan computes it without the sort `checksum` needs;
    every table is read by one statement (one round trip). Equal fingerprints prove equal multisets of
    rows (compared as values, by each column type's equality), but for odds of about 2**-128 that two
    that differ sum alike. The hash functions are PostgreSQL's own: stable across versions (hash
    partitions rely on them through pg_upgrade), not between big- and little-endian servers, where equal
    rows would differ: such a move is refused, never wrongly switched.
    """
    if not tables:
        return {}
    query = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}, count(*), coalesce(sum({}), 0), coalesce(sum({}), 0) FROM {} WHERE {}").format(
            sql.Literal(t.name), t.row_hash64(0), t.row_hash64(1), t.ident, t.where(org)) for t in tables)
    return {name: (int(count), int(sum0), int(sum1)) for name, count, sum0, sum1 in conn.execute(query)}


def digest(fp: Fingerprint) -> str:
    """A fingerprint's sums as 32 hex digits (modulo 2**64 each), to print."""
    return "".join(f"{s % 2 ** 64:016x}" for s in fp[1:])
