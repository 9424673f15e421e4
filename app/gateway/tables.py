"""Rule 4: every relation a query reads is an allowed table of schema public.

Names are resolved the way PostgreSQL resolves them: unquoted identifiers fold
to lower case, quoted ones do not ("Contacts" is another table), a schema-less
name is first looked up among the CTEs visible at that point, and only then in
public. A CTE may shadow a table name; the real tables inside its body (and a
non-recursive CTE's reference to its own name, which is the real table) are
still found and guarded.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from app.errors.query import SqlRejectedError
from app.gateway.context import PUBLIC_SCHEMA, RuleContext, fold_identifier

_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


@dataclass(frozen=True)
class TableRef:
    """One occurrence of a relation name in a FROM clause."""

    node: exp.Table
    name: str
    is_cte: bool


def check_tables(
    tree: exp.Expression, *, ctx: RuleContext, copy: bool = True
) -> exp.Expression:
    """The tree unchanged if every real table it reads is allowed.

    Raises SqlRejectedError naming the first table, schema or catalog refused.
    """
    for ref in table_refs(tree):
        if not ref.is_cte and ref.name not in ctx.allowed_tables:
            raise SqlRejectedError(_not_allowed(ref.name, ctx))
    return tree


def table_refs(tree: exp.Expression) -> list[TableRef]:
    """Every relation reference in the tree, each occurrence, classified as table or CTE."""
    found: list[TableRef] = []
    _visit(tree, frozenset(), found)
    return found


def _visit(node: exp.Expression, visible: frozenset[str], found: list[TableRef]) -> None:
    if isinstance(node, exp.Table):
        ref = _classify(node, visible)
        if ref is not None:
            found.append(ref)
    inner = visible
    with_ = node.args.get("with_")
    if isinstance(with_, exp.With):
        inner = _visit_with(with_, visible, found)
    for key, value in node.args.items():
        if key == "with_":
            continue
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, exp.Expression):
                _visit(child, inner, found)


def _visit_with(with_: exp.With, visible: frozenset[str], found: list[TableRef]) -> frozenset[str]:
    """Visit CTE bodies with PostgreSQL's visibility; return the names the main query sees."""
    names = [cte_name(cte) for cte in with_.expressions]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise SqlRejectedError(f"WITH query name {sorted(duplicates)[0]} is specified more than once")
    recursive = bool(with_.args.get("recursive"))
    for index, cte in enumerate(with_.expressions):
        # WITH RECURSIVE: every name of the list is visible in every body;
        # plain WITH: only the earlier ones (a self-reference is the real table).
        sees = names if recursive else names[:index]
        _visit(cte, visible | frozenset(sees), found)
    return visible | frozenset(names)


def cte_name(cte: exp.CTE) -> str:
    alias = cte.args.get("alias")
    ident = alias.this if isinstance(alias, exp.TableAlias) else None
    if not isinstance(ident, exp.Identifier):
        raise SqlRejectedError("a WITH query has no name")
    return fold_identifier(str(ident.this), quoted=bool(ident.quoted))


def _classify(node: exp.Table, visible: frozenset[str]) -> TableRef | None:
    if node.args.get("catalog") is not None:
        raise SqlRejectedError(
            f"cross-database reference {node.sql(dialect='postgres')} is not allowed"
        )
    ident = node.this
    schema = _schema(node)
    if not isinstance(ident, exp.Identifier):
        if schema is not None:
            raise SqlRejectedError(
                f"schema-qualified table function {node.sql(dialect='postgres')} is not allowed"
            )
        return None  # a table function or ROWS FROM: functions.py checks the calls
    name = fold_identifier(str(ident.this), quoted=bool(ident.quoted))
    if schema is None and name in visible:
        return TableRef(node, name, is_cte=True)
    if schema is not None and schema != PUBLIC_SCHEMA:
        kind = "system catalog schema" if schema in _SYSTEM_SCHEMAS else "schema"
        raise SqlRejectedError(
            f"{kind} {schema} is not allowed ({schema}.{name}); agent queries read tables of "
            f"schema {PUBLIC_SCHEMA} only"
        )
    return TableRef(node, name, is_cte=False)


def _schema(node: exp.Table) -> str | None:
    db = node.args.get("db")
    if db is None:
        return None
    if not isinstance(db, exp.Identifier):
        raise SqlRejectedError(f"table reference {node.sql(dialect='postgres')} is not understood")
    return fold_identifier(str(db.this), quoted=bool(db.quoted))


def _not_allowed(name: str, ctx: RuleContext) -> str:
    kind = "system catalog" if name.startswith("pg_") else "table"
    if not ctx.allowed_tables:  # the usual cause is a new org, not a bad query: name the fix
        return (f"{kind} {name} is not allowed: this organization's semantic layer has no entities yet, so agent "
                f"queries may read no table; an admin profiles the datasource with `atlas init --org {ctx.org_id}` "
                "or adds entities (PUT /api/v1/admin/semantic/org/entities/<name>, or the console's "
                "Admin > Semantic layer)")
    return f"{kind} {name} is not allowed; allowed tables: {', '.join(sorted(ctx.allowed_tables))}"
