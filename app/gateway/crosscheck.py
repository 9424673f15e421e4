"""Rule 8: PostgreSQL's own parser (libpg_query, via pglast) re-reads the final SQL.

pglast 5 embeds the parser of PostgreSQL 15, the server's version. Independently
of everything sqlglot concluded, the final SQL must be one SELECT whose every
relation reference is either a CTE visible at that point (PostgreSQL's scoping,
re-implemented on PostgreSQL's tree) or the org-filtered derived table

    (SELECT * FROM public.<allowed> WHERE <allowed>.org_id = '<this org>')

and whose every node, function, type and top-level row limit is as expected.
Anything else means the two parsers disagree, and the query is refused.
"""
from __future__ import annotations

from collections.abc import Iterator

from pglast import ast, enums, parse_sql
from pglast.parser import ParseError as PgParseError

from app.errors.query import SqlInvalidError, SqlRejectedError
from app.gateway.context import ORG_COLUMN, PUBLIC_SCHEMA, RuleContext
from app.gateway.functions import PG_FUNCTIONS
from app.gateway.parse import too_deep

PG_TYPES = frozenset(
    ["int2", "int4", "int8", "numeric", "float4", "float8", "text", "varchar", "bpchar", "bool", "date", "time", "timetz", "timestamp", "timestamptz", "interval", "uuid", "json", "jsonb", "money"]
)
_SVF = enums.SQLValueFunctionOp
PG_VALUE_FUNCTIONS = frozenset(
    {_SVF.SVFOP_CURRENT_DATE, _SVF.SVFOP_CURRENT_TIME, _SVF.SVFOP_CURRENT_TIME_N,
     _SVF.SVFOP_CURRENT_TIMESTAMP, _SVF.SVFOP_CURRENT_TIMESTAMP_N, _SVF.SVFOP_LOCALTIME,
     _SVF.SVFOP_LOCALTIME_N, _SVF.SVFOP_LOCALTIMESTAMP, _SVF.SVFOP_LOCALTIMESTAMP_N}
)
PG_NODES: frozenset[type[ast.Node]] = frozenset(
    {ast.RawStmt, ast.SelectStmt, ast.ResTarget, ast.ColumnRef, ast.A_Star, ast.String,
     ast.Integer, ast.Float, ast.Boolean, ast.A_Const, ast.A_Expr, ast.BoolExpr, ast.NullTest,
     ast.BooleanTest, ast.FuncCall, ast.TypeCast, ast.TypeName, ast.SubLink, ast.RangeSubselect,
     ast.RangeVar, ast.Alias, ast.JoinExpr, ast.SortBy, ast.WindowDef, ast.CommonTableExpr,
     ast.WithClause, ast.CaseExpr, ast.CaseWhen, ast.CoalesceExpr, ast.MinMaxExpr, ast.RowExpr,
     ast.A_ArrayExpr, ast.A_Indirection, ast.A_Indices, ast.CollateClause, ast.RangeFunction,
     ast.SQLValueFunction, ast.GroupingSet, ast.GroupingFunc, ast.NamedArgExpr}
)


def pg_parse(sql_text: str) -> tuple[ast.RawStmt, ...]:
    """PostgreSQL's parse of sql_text. Raises SqlInvalidError with PostgreSQL's message."""
    try:
        return tuple(parse_sql(sql_text))  # pglast is untyped: a tuple of RawStmt
    except PgParseError as exc:
        raise SqlInvalidError(f"PostgreSQL cannot parse the query: {exc}") from None
    except RecursionError:  # pglast builds its Python tree recursively
        raise too_deep() from None


def single_select(statements: tuple[ast.RawStmt, ...], *, what: str) -> ast.SelectStmt:
    """The one SelectStmt, or SqlRejectedError saying what PostgreSQL read instead."""
    if len(statements) != 1:
        raise SqlRejectedError(
            f"PostgreSQL reads {len(statements)} statements in the {what}; exactly one SELECT is allowed"
        )
    stmt = statements[0].stmt
    if not isinstance(stmt, ast.SelectStmt):
        raise SqlRejectedError(
            f"PostgreSQL reads the {what} as {type(stmt).__name__}, not a SELECT query"
        )
    return stmt


def check_final_sql(final_sql: str, *, ctx: RuleContext) -> tuple[ast.SelectStmt, tuple[str, ...]]:
    """PostgreSQL's tree of the SQL we are about to run, verified, and the tables it guards.

    Raises SqlRejectedError.
    """
    try:
        statements = parse_sql(final_sql)
        stmt = single_select(statements, what="rewritten query")
        _check_limit(stmt, ctx.row_limit + 1)
        verifier = _Verifier(ctx)
        verifier.visit(stmt, frozenset())
    except PgParseError as exc:
        raise SqlRejectedError(f"the rewritten query is not valid PostgreSQL ({exc})") from None
    except RecursionError:
        raise too_deep() from None
    return stmt, tuple(sorted(verifier.guarded))


def is_guard(node: ast.Node, ctx: RuleContext) -> str | None:
    """The table name if node is exactly the org-filtered derived table of an allowed table."""
    if not isinstance(node, ast.RangeSubselect) or node.lateral:
        return None
    sub = node.subquery
    if not isinstance(sub, ast.SelectStmt) or _has_any(sub, _GUARD_EMPTY):
        return None
    if sub.op != enums.SetOperation.SETOP_NONE or not sub.fromClause or len(sub.fromClause) != 1:
        return None
    rel = sub.fromClause[0]
    if not (
        isinstance(rel, ast.RangeVar) and rel.schemaname == PUBLIC_SCHEMA
        and rel.catalogname is None and rel.alias is None and rel.relname in ctx.allowed_tables
    ):
        return None
    table: str = rel.relname
    if not _is_star_list(sub.targetList) or not _is_org_filter(sub.whereClause, table, ctx):
        return None
    return table


_GUARD_EMPTY = (
    "distinctClause", "intoClause", "groupClause", "havingClause", "windowClause", "valuesLists",
    "sortClause", "limitOffset", "limitCount", "lockingClause", "withClause", "larg", "rarg",
)


def _has_any(node: ast.Node, names: tuple[str, ...]) -> bool:
    return any(getattr(node, name, None) for name in names)


def _is_star_list(targets: tuple[ast.Node, ...] | None) -> bool:
    if not targets or len(targets) != 1:
        return False
    target = targets[0]
    return (
        isinstance(target, ast.ResTarget) and target.name is None and not target.indirection
        and isinstance(target.val, ast.ColumnRef) and len(target.val.fields) == 1
        and isinstance(target.val.fields[0], ast.A_Star)
    )


def _is_org_filter(where: ast.Node | None, table: str, ctx: RuleContext) -> bool:
    if not ctx.org_predicate:  # an org's own datasource: the guard carries no filter at all
        return where is None
    if not (isinstance(where, ast.A_Expr) and where.kind == enums.A_Expr_Kind.AEXPR_OP):
        return False
    if len(where.name) != 1 or where.name[0].sval != "=":
        return False
    left, right = where.lexpr, where.rexpr
    return (
        isinstance(left, ast.ColumnRef)
        and [getattr(f, "sval", None) for f in left.fields] == [table, ORG_COLUMN]
        and isinstance(right, ast.A_Const) and isinstance(right.val, ast.String)
        and right.val.sval == str(ctx.org_id)
    )


def _check_limit(stmt: ast.SelectStmt, expected: int) -> None:
    count = stmt.limitCount
    if not (
        isinstance(count, ast.A_Const) and isinstance(count.val, ast.Integer)
        and count.val.ival == expected and stmt.limitOption == enums.LimitOption.LIMIT_OPTION_COUNT
    ):
        raise SqlRejectedError("PostgreSQL does not read the row limit where it was applied")


def children(node: ast.Node) -> Iterator[ast.Node]:
    """Every child node, through lists of lists."""
    for name in _node_slots(type(node)):
        yield from _nodes_in(getattr(node, name))


_SCALAR_C_TYPES = frozenset(
    ["bool", "char", "char*", "int", "int16", "int32", "long", "uint64", "bits32", "AttrNumber", "Index", "Cost", "SubTransactionId", "AclMode", "Bitmapset*"]
)
_SLOTS: dict[type, tuple[str, ...]] = {}


def _node_slots(cls: type) -> tuple[str, ...]:
    """The attributes of a node class that can hold nodes: all but scalars and enums (cached)."""
    slots = _SLOTS.get(cls)
    if slots is None:
        info = getattr(cls, "__slots__", {})
        slots = tuple(
            name for name, slot in (info.items() if isinstance(info, dict) else ())
            if slot.c_type not in _SCALAR_C_TYPES and not hasattr(enums, slot.c_type)
        )
        _SLOTS[cls] = slots
    return slots


def _nodes_in(value: object) -> Iterator[ast.Node]:
    if isinstance(value, ast.Node):
        yield value
    elif isinstance(value, tuple):
        for item in value:
            yield from _nodes_in(item)


class _Verifier:
    """Walks PostgreSQL's tree with CTE scoping; refuses whatever is not known-safe."""

    def __init__(self, ctx: RuleContext) -> None:
        self.ctx = ctx
        self.guarded: set[str] = set()

    def visit(self, node: ast.Node, ctes: frozenset[str]) -> None:
        table = is_guard(node, self.ctx)
        if table is not None:
            self.guarded.add(table)
            return
        if type(node) not in PG_NODES:
            raise SqlRejectedError(
                f"PostgreSQL reads a {type(node).__name__} node the gateway does not allow"
            )
        check = getattr(self, f"_{type(node).__name__}", None)
        if check is not None and check(node, ctes):
            return  # the check visited the children itself
        for child in children(node):
            self.visit(child, ctes)

    def _SelectStmt(self, node: ast.SelectStmt, ctes: frozenset[str]) -> bool:
        if node.intoClause is not None or node.lockingClause:
            raise SqlRejectedError("PostgreSQL reads SELECT INTO or a locking clause")
        if node.withClause is None:
            return False
        with_ = node.withClause
        names = [cte.ctename for cte in with_.ctes]
        if len(set(names)) != len(names):
            raise SqlRejectedError("PostgreSQL reads a WITH query name twice")
        for index, cte in enumerate(with_.ctes):
            if cte.search_clause is not None or cte.cycle_clause is not None:
                raise SqlRejectedError("SEARCH and CYCLE clauses are not allowed")
            sees = names if with_.recursive else names[:index]
            self.visit(cte.ctequery, ctes | frozenset(sees))
        inner = ctes | frozenset(names)
        for name in node:
            if name != "withClause":
                for child in _nodes_in(getattr(node, name)):
                    self.visit(child, inner)
        return True

    def _RangeVar(self, node: ast.RangeVar, ctes: frozenset[str]) -> bool:
        if node.schemaname is None and node.catalogname is None and node.relname in ctes:
            return True
        qualified = ".".join(p for p in (node.catalogname, node.schemaname, node.relname) if p)
        raise SqlRejectedError(
            f"PostgreSQL reads relation {qualified} outside the org filter; the parsers disagree"
        )

    def _FuncCall(self, node: ast.FuncCall, ctes: frozenset[str]) -> bool:
        names = [getattr(part, "sval", None) for part in node.funcname]
        if len(names) == 2 and names[0] == "pg_catalog":
            names = names[1:]
        if len(names) != 1 or names[0] not in PG_FUNCTIONS:
            raise SqlRejectedError(
                f"PostgreSQL reads a call to {'.'.join(map(str, names))}, which is not allowed"
            )
        return False

    def _TypeName(self, node: ast.TypeName, ctes: frozenset[str]) -> bool:
        names = [getattr(part, "sval", None) for part in node.names]
        if len(names) == 2 and names[0] == "pg_catalog":
            names = names[1:]
        if node.setof or node.pct_type or len(names) != 1 or names[0] not in PG_TYPES:
            raise SqlRejectedError(
                f"PostgreSQL reads type {'.'.join(map(str, names))}, which is not allowed"
            )
        return False

    def _SQLValueFunction(self, node: ast.SQLValueFunction, ctes: frozenset[str]) -> bool:
        if node.op not in PG_VALUE_FUNCTIONS:
            name = node.op.name.removeprefix("SVFOP_")
            raise SqlRejectedError(f"{name} is not allowed in agent queries")
        return False
