"""Hypothesis strategies that write honest analytic SQL over the CRM schema.

The generator varies what the rewrite must get right: how a table is named
(bare, upper case, quoted, public-qualified, aliased or not), every join kind,
scalar and correlated subqueries in the select list, WHERE, HAVING and ORDER BY,
CTEs (including ones named like real tables), derived tables, LATERAL and set
operations. Results are small aggregates, so multisets compare quickly.
"""
from __future__ import annotations

from hypothesis import strategies as st

# table -> (numeric columns, text columns, foreign keys {column: table})
SCHEMA: dict[str, tuple[tuple[str, ...], tuple[str, ...], dict[str, str]]] = {
    "accounts": (("employee_count", "annual_revenue"), ("name", "industry"), {}),
    "contacts": ((), ("first_name", "last_name", "lifecycle_stage"), {"account_id": "accounts"}),
    "leads": (("score",), ("company", "source", "status"), {"converted_contact_id": "contacts"}),
    "opportunities": (("amount", "probability"), ("stage", "currency"),
                      {"account_id": "accounts", "primary_contact_id": "contacts"}),
    "activities": ((), ("kind", "subject"), {"contact_id": "contacts", "account_id": "accounts",
                                             "opportunity_id": "opportunities"}),
    "notes": ((), ("body",), {"contact_id": "contacts", "account_id": "accounts"}),
    "projects": (("budget",), ("status", "name"), {"account_id": "accounts"}),
    "sites": ((), ("city", "country"), {"account_id": "accounts"}),
    "knowledge_files": (("size_bytes",), ("content_type", "title"), {"project_id": "projects"}),
}
TABLES = tuple(SCHEMA)
JOINS = ("JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN", "CROSS JOIN")


@st.composite
def table_ref(draw, table: str, alias: str) -> str:
    """One way of writing a reference to `table`, always aliased as `alias`."""
    spelled = draw(st.sampled_from((table, table.upper(), f'"{table}"', f"public.{table}",
                                    f"PUBLIC.{table.upper()}", f'"public"."{table}"')))
    return f"{spelled} AS {alias}"


@st.composite
def scalar_subquery(draw, outer_alias: str | None = None, outer_table: str | None = None) -> str:
    """An uncorrelated (the known-bad shape) or correlated scalar subquery."""
    table = draw(st.sampled_from(TABLES))
    inner = draw(table_ref(table, "sq"))
    correlated = [(c, t) for c, t in SCHEMA[table][2].items() if t == outer_table]
    if outer_alias and correlated and draw(st.booleans()):
        column, _ = draw(st.sampled_from(correlated))
        return f"(SELECT count(*) FROM {inner} WHERE sq.{column} = {outer_alias}.id)"
    return f"(SELECT count(*) FROM {inner})"


@st.composite
def predicate(draw, alias: str, table: str) -> str:
    numbers, words, fks = SCHEMA[table]
    choices = ["text", "exists", "in", "scalar"] + (["number"] if numbers else [])
    kind = draw(st.sampled_from(choices))
    if kind == "number":
        return f"{alias}.{draw(st.sampled_from(numbers))} > {draw(st.integers(0, 60000))}"
    if kind == "text":
        return f"{alias}.{draw(st.sampled_from(words))} < '{draw(st.sampled_from('AGMSZ'))}'"
    if kind == "scalar":
        return f"{draw(scalar_subquery(alias, table))} > {draw(st.integers(0, 25))}"
    other = draw(st.sampled_from(TABLES))
    ref = draw(table_ref(other, "px"))
    links = [c for c, t in SCHEMA[other][2].items() if t == table]
    if kind == "exists" and links:
        return f"EXISTS (SELECT 1 FROM {ref} WHERE px.{draw(st.sampled_from(links))} = {alias}.id)"
    fk = [c for c in fks if SCHEMA[table][2][c] == other]
    if fk:
        return f"{alias}.{fk[0]} IN (SELECT px.id FROM {ref})"
    return f"NOT EXISTS (SELECT 1 FROM {ref} WHERE px.created_at < {alias}.created_at)"


@st.composite
def from_clause(draw) -> tuple[str, list[tuple[str, str]]]:
    """A FROM clause of 1-3 tables joined in any way; returns it and (alias, table) pairs."""
    first = draw(st.sampled_from(TABLES))
    items = [("t0", first)]
    sql = draw(table_ref(first, "t0"))
    for index in range(1, draw(st.integers(1, 3))):
        table = draw(st.sampled_from(TABLES))
        alias = f"t{index}"
        join = draw(st.sampled_from(JOINS))
        ref = draw(table_ref(table, alias))
        if join == "CROSS JOIN":
            sql += f" CROSS JOIN {ref}"
        else:
            sql += f" {join} {ref} ON {_join_condition(items, alias, table)}"
        items.append((alias, table))
    if draw(st.booleans()):
        table = draw(st.sampled_from(TABLES))
        sql += f" LEFT JOIN LATERAL (SELECT count(*) AS n FROM {draw(table_ref(table, 'lx'))}) AS lat ON true"
    return sql, items


def _join_condition(items: list[tuple[str, str]], alias: str, table: str) -> str:
    for prev_alias, prev_table in items:
        for column, target in SCHEMA[table][2].items():
            if target == prev_table:
                return f"{alias}.{column} = {prev_alias}.id"
        for column, target in SCHEMA[prev_table][2].items():
            if target == table:
                return f"{prev_alias}.{column} = {alias}.id"
    return "true"  # within one org the rows of any two tables pair up; org_id is the gateway's to name


@st.composite
def select_query(draw) -> str:
    """An aggregate query: grouped or not, with optional WHERE, HAVING and ORDER BY subqueries."""
    from_sql, items = draw(from_clause())
    alias, table = draw(st.sampled_from(items))
    words = SCHEMA[table][1]
    where = f" WHERE {draw(predicate(alias, table))}" if draw(st.booleans()) else ""
    extra = f", {draw(scalar_subquery())} AS sub" if draw(st.booleans()) else ""
    if draw(st.booleans()):
        group = f"{alias}.{draw(st.sampled_from(words))}"
        having = f" HAVING count(*) >= {draw(scalar_subquery())} / 20" if draw(st.booleans()) else ""
        order = f" ORDER BY {draw(scalar_subquery())} - count(*), 1" if draw(st.booleans()) else ""
        return (f"SELECT {group} AS g, count(*) AS n, count(DISTINCT {items[-1][0]}.id) AS d{extra} "
                f"FROM {from_sql}{where} GROUP BY {group}{having}{order}")
    return f"SELECT count(*) AS n, count({alias}.id) AS c{extra} FROM {from_sql}{where}"


@st.composite
def analytic_query(draw) -> str:
    """A select query, possibly inside a CTE (maybe named like a table), a derived table or a UNION."""
    inner = draw(select_query())
    shape = draw(st.sampled_from(("plain", "cte", "shadowing_cte", "derived", "union")))
    if shape == "cte":
        return f"WITH q AS ({inner}) SELECT * FROM q"
    if shape == "shadowing_cte":
        name = draw(st.sampled_from(TABLES))
        return f"WITH {name} AS ({inner}) SELECT * FROM {name}"
    if shape == "derived":
        return f"SELECT * FROM ({inner}) AS d"
    if shape == "union":
        other = draw(select_query())
        return f"SELECT count(*) FROM ({inner}) AS a UNION ALL SELECT count(*) FROM ({other}) AS b"
    return inner
