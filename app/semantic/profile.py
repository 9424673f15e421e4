"""Profile the datasource into entity YAML: tables, columns, keys, joins, counts, samples.

Runs inside one transaction of the door. With an org, that is the org's
transaction: row counts and sample values come from RLS-filtered reads (each
query also names the org when the table has org_id), so they are that org's
data only. Without an org it is ``identity_transaction()``: tenant tables show
no rows, so only the structure (columns, types, keys, joins) is profiled;
data from every tenant never lands in the shared default layer.

The tables profiled are those the agent role may SELECT: exactly what agent
SQL can reach. ``org_id`` is left out of every entity (the gateway and RLS
supply it; the agent never needs to filter on it).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

import yaml
from psycopg import sql

from app.db import Scope

TENANT_COLUMN = "org_id"
SAMPLE_ROWS = 10_000  # rows read per column when looking for low-cardinality values
MAX_SAMPLE_VALUES = 20
SAMPLE_TYPES = ("string", "integer", "boolean")


@dataclass
class Column:
    name: str
    pg_type: str
    comment: str | None

    @property
    def type(self) -> str:
        return semantic_type(self.pg_type)


@dataclass
class ForeignKey:
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]

    def single_pair(self) -> tuple[str, str] | None:
        """The join column pair once org_id is set aside; None for a composite key."""
        pairs = [(c, r) for c, r in zip(self.columns, self.ref_columns) if c != TENANT_COLUMN]
        return pairs[0] if len(pairs) == 1 else None


@dataclass
class TableProfile:
    name: str
    comment: str | None
    columns: list[Column]
    primary_key: tuple[str, ...]
    foreign_keys: list[ForeignKey]
    row_count: int | None = None
    samples: dict[str, list[Any]] = field(default_factory=dict)


def semantic_type(pg_type: str) -> str:
    if pg_type == "uuid":
        return "uuid"
    if pg_type in ("integer", "bigint", "smallint"):
        return "integer"
    if pg_type.startswith(("numeric", "real", "double precision")):
        return "number"
    if pg_type == "boolean":
        return "boolean"
    if pg_type == "date":
        return "date"
    if pg_type.startswith("timestamp"):
        return "timestamp"
    if pg_type in ("json", "jsonb"):
        return "json"
    return "string"


def agent_tables(scope: Scope, *, agent_role: str) -> list[str]:
    """Tables in public that the agent role may SELECT, by name."""
    found = scope.fetch_all(
        """
        SELECT c.relname AS name
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_roles r ON r.rolname = %s
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
          AND has_table_privilege(r.oid, c.oid, 'SELECT')
        ORDER BY 1
        """,
        (agent_role,),
    )
    return [r["name"] for r in found]


def describe(scope: Scope, table: str) -> TableProfile:
    """Columns, comments and keys of one public table, from the catalog."""
    ident = scope.fetch_value("SELECT format('%%I.%%I', 'public', %s::text)", (table,))
    columns = [
        Column(r["name"], r["type"], r["comment"])
        for r in scope.fetch_all(
            """
            SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
                   col_description(a.attrelid, a.attnum) AS comment
            FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """,
            (ident,),
        )
    ]
    keys = scope.fetch_all(
        """
        SELECT con.contype AS kind, con.confrelid::regclass::text AS ref_table,
               ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                     JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i) AS cols,
               ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                     JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i) AS ref_cols
        FROM pg_constraint con WHERE con.conrelid = %s::regclass AND con.contype IN ('p', 'f')
        ORDER BY con.conname
        """,
        (ident,),
    )
    comment = scope.fetch_value("SELECT obj_description(%s::regclass, 'pg_class')", (ident,))
    primary = next((tuple(k["cols"]) for k in keys if k["kind"] == "p"), ())
    fks = [ForeignKey(tuple(k["cols"]), k["ref_table"], tuple(k["ref_cols"])) for k in keys if k["kind"] == "f"]
    return TableProfile(table, comment, columns, primary, fks, samples=_allowed_values(scope, ident))


_CHECK_IN = re.compile(r"\(\(?(\w+)\)? = ANY \(\(?ARRAY\[(.*?)\]\)")
_QUOTED = re.compile(r"'((?:[^']|'')*)'")


def _allowed_values(scope: Scope, ident: str) -> dict[str, list[Any]]:
    """Values a CHECK (col IN (...)) allows: schema, not tenant data, so safe in any layer."""
    found: dict[str, list[Any]] = {}
    for row in scope.fetch_all(
        "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = %s::regclass "
        "AND contype = 'c' ORDER BY conname", (ident,),
    ):
        match = _CHECK_IN.search(row["def"])
        if match:
            values = [v.replace("''", "'") for v in _QUOTED.findall(match.group(2))]
            if 0 < len(values) <= MAX_SAMPLE_VALUES:
                found[match.group(1)] = values
    return found


def add_data(scope: Scope, profile: TableProfile) -> None:
    """Row count and low-cardinality sample values, as the scope's org sees them."""
    table = sql.Identifier("public", profile.name)
    where, params = _org_filter(scope, profile)
    profile.row_count = scope.fetch_value(sql.SQL("SELECT count(*) FROM {} {}").format(table, where), params)
    keys = set(profile.primary_key) | {c for fk in profile.foreign_keys for c in fk.columns}
    for column in profile.columns:
        if column.name in keys or column.name in profile.samples or column.type not in SAMPLE_TYPES:
            continue
        values = _low_cardinality_values(scope, table, sql.Identifier(column.name), where, params)
        if values:
            profile.samples[column.name] = values


def _org_filter(scope: Scope, profile: TableProfile) -> tuple[sql.Composable, tuple]:
    """An explicit org predicate on top of RLS, when the table has org_id."""
    if scope.org_id is not None and any(c.name == TENANT_COLUMN for c in profile.columns):
        return sql.SQL("WHERE {} = %s").format(sql.Identifier(TENANT_COLUMN)), (scope.org_id,)
    return sql.SQL(""), ()


def _low_cardinality_values(scope: Scope, table: sql.Composable, column: sql.Composable,
                            where: sql.Composable, params: tuple) -> list[Any]:
    """Up to 20 distinct values, when each appears on average at least twice in the sample."""
    found = scope.fetch_all(
        sql.SQL(
            "SELECT v, count(*) AS n, sum(count(*)) OVER () AS total FROM "
            "(SELECT {col} AS v FROM {table} {where} LIMIT {rows}) s "
            "WHERE v IS NOT NULL GROUP BY v ORDER BY n DESC, v LIMIT {cap}"
        ).format(col=column, table=table, where=where, rows=sql.Literal(SAMPLE_ROWS),
                 cap=sql.Literal(MAX_SAMPLE_VALUES + 1)),
        params,
    )
    if not found or len(found) > MAX_SAMPLE_VALUES or len(found) * 2 > int(found[0]["total"]):
        return []
    return sorted((r["v"] for r in found), key=str)


def build_entities(profiles: Iterable[TableProfile]) -> dict[str, dict[str, Any]]:
    """One entity document per table; joins both ways between profiled tables."""
    profiles = list(profiles)
    known = {p.name for p in profiles}
    reverse: dict[str, list[dict]] = {}
    for p in profiles:
        for fk in p.foreign_keys:
            pair = fk.single_pair()
            if pair and fk.ref_table in known:
                reverse.setdefault(fk.ref_table, []).append({
                    "target_entity": p.name, "relationship": "one_to_many",
                    "join_columns": {"from": pair[1], "to": pair[0]},
                    "description": f"{p.name}.{pair[0]} points at this table's {pair[1]}",
                })
    return {p.name: _entity(p, known, reverse.get(p.name, [])) for p in profiles}


def _entity(p: TableProfile, known: set[str], reverse: list[dict]) -> dict[str, Any]:
    fk_by_column = {fk.single_pair()[0]: fk for fk in p.foreign_keys if fk.single_pair()}  # type: ignore[index]  # filtered to foreign keys with a single pair just above
    dimensions = []
    for column in p.columns:
        if column.name == TENANT_COLUMN:
            continue
        dim: dict[str, Any] = {"name": column.name, "sql": column.name, "type": column.type}
        fk = fk_by_column.get(column.name)
        description = column.comment or (
            "Primary key" if (column.name,) == tuple(c for c in p.primary_key if c != TENANT_COLUMN)
            else f"References {fk.ref_table}" if fk else None)
        if description:
            dim["description"] = description
        if column.name in p.primary_key:
            dim["primary_key"] = True
        if column.name in p.samples:
            dim["sample_values"] = p.samples[column.name]
        dimensions.append(dim)
    entity: dict[str, Any] = {"table": p.name, "description": _describe(p)}
    if p.row_count is not None:
        entity["row_count"] = p.row_count
    entity["dimensions"] = dimensions
    entity["measures"] = _measures(p)
    joins = [
        {"target_entity": fk.ref_table, "relationship": "many_to_one",
         "join_columns": {"from": pair[0], "to": pair[1]},
         "description": f"Each {p.name} row belongs to at most one {fk.ref_table} row"}
        for fk in p.foreign_keys if (pair := fk.single_pair()) and fk.ref_table in known
    ] + reverse
    if joins:
        entity["joins"] = joins
    patterns = _patterns(p)
    if patterns:
        entity["query_patterns"] = patterns
    return entity


def _describe(p: TableProfile) -> str:
    if p.comment:
        return p.comment
    shown = f" ({p.row_count} rows when profiled)" if p.row_count is not None else ""
    return f"Auto-profiled table {p.name}{shown}; review and describe what one row means."


def _measures(p: TableProfile) -> list[dict[str, Any]]:
    key = next((c for c in p.primary_key if c != TENANT_COLUMN), None)
    measures = [{"name": f"{p.name}_count", "sql": key or "*", "type": "count_distinct" if key else "count",
                 "description": f"Number of {p.name}"}]
    keys = set(p.primary_key) | {c for fk in p.foreign_keys for c in fk.columns}
    for column in p.columns:
        if column.type == "number" and column.name not in keys:
            measures.append({"name": f"total_{column.name}", "sql": column.name, "type": "sum",
                             "description": f"Sum of {column.name}"})
            measures.append({"name": f"avg_{column.name}", "sql": column.name, "type": "avg",
                             "description": f"Average {column.name}"})
    return measures


def _patterns(p: TableProfile) -> list[dict[str, str]]:
    patterns = []
    for column, _values in list(p.samples.items())[:2]:
        patterns.append({"description": f"{p.name} by {column}",
                         "sql": f"SELECT {column}, COUNT(*) AS count\nFROM {p.name}\n"
                                f"GROUP BY {column}\nORDER BY count DESC"})
    if any(c.name == "created_at" for c in p.columns):
        patterns.append({"description": f"New {p.name} per month",
                         "sql": f"SELECT date_trunc('month', created_at) AS month, COUNT(*) AS count\n"
                                f"FROM {p.name}\nGROUP BY 1\nORDER BY 1"})
    return patterns


class _Dumper(yaml.SafeDumper):
    """Safe dumper that writes multi-line strings (SQL) as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(entity: dict[str, Any]) -> str:
    return yaml.dump(entity, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
