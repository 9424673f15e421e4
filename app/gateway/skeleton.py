"""Part of rule 8: did sqlglot read the original text the way PostgreSQL reads it?

Both PostgreSQL parses, of the original text and of the final SQL, are reduced
to a skeleton: the relations, column references, constants, SELECTs,
subquery links and joins they contain. The final SQL's org-filtered derived
tables count as the table they guard and the row-limit wrapper is skipped, so
for a query sqlglot understood the two skeletons are equal. A difference (a
nested comment, a U&"..." identifier, an unusual literal sqlglot reads
otherwise) refuses the query instead of running sqlglot's interpretation.
"""
from __future__ import annotations

from collections import Counter

from pglast import ast

from app.errors.query import SqlRejectedError
from app.gateway.context import RuleContext
from app.gateway.crosscheck import children, is_guard
from app.gateway.row_limit import RESULT_ALIAS

Skeleton = Counter[tuple[object, ...]]  # (kind, detail) of each node that must survive the rewrite


def skeleton(
    stmt: ast.Node, *, ctx: RuleContext | None = None, skip: ast.Node | None = None
) -> Skeleton:
    """The comparable outline of a PostgreSQL parse tree.

    ctx: count each org-filtered derived table as its table; skip: a node to leave out.
    """
    found: Skeleton = Counter()
    _collect(stmt, ctx, skip, found)
    return found


def unwrap_row_limit(stmt: ast.SelectStmt) -> ast.Node:
    """The query inside `SELECT * FROM (<query>) AS atlas_result LIMIT n`, else stmt itself."""
    source = stmt.fromClause[0] if stmt.fromClause and len(stmt.fromClause) == 1 else None
    if (
        isinstance(source, ast.RangeSubselect) and source.alias is not None
        and source.alias.aliasname == RESULT_ALIAS and not stmt.whereClause
    ):
        return source.subquery
    return stmt


def compare(original: ast.SelectStmt, final: ast.SelectStmt, *, ctx: RuleContext) -> None:
    """Raise SqlRejectedError when the two outlines differ, naming one difference."""
    want = skeleton(original)
    inner = unwrap_row_limit(final)
    got = skeleton(inner, ctx=ctx, skip=final.limitCount if inner is final else None)
    if want == got:
        return
    missing = sorted(map(str, (want - got).keys()))[:3]
    extra = sorted(map(str, (got - want).keys()))[:3]
    raise SqlRejectedError(
        "sqlglot and PostgreSQL read this query differently "
        f"(PostgreSQL reads {', '.join(missing) or 'nothing more'}; sqlglot reads "
        f"{', '.join(extra) or 'nothing more'}); rewrite it in plainer SQL"
    )


def _collect(node: ast.Node, ctx: RuleContext | None, skip: ast.Node | None, found: Skeleton) -> None:
    if node is skip:
        return  # the row limit we applied
    if ctx is not None:
        table = is_guard(node, ctx)
        if table is not None:
            found[("relation", table)] += 1
            return
    item = _item(node)
    if item is not None:
        found[item] += 1
    if isinstance(node, ast.TypeCast) and _is_interval(node.typeName):
        return  # INTERVAL '3' MONTH and INTERVAL '3 MONTH' mean the same
    for child in children(node):
        if child is _log10_base(node):
            continue  # log10(x) is regenerated as LOG(10, x)
        _collect(child, ctx, skip, found)


def _item(node: ast.Node) -> tuple[object, ...] | None:
    if isinstance(node, ast.RangeVar):
        return ("relation", node.relname)
    if isinstance(node, ast.ColumnRef):
        return ("column", ".".join(getattr(f, "sval", "*") for f in node.fields))
    if isinstance(node, ast.A_Const) and isinstance(node.val, ast.String):
        return ("string", " ".join(node.val.sval.casefold().split()))
    if isinstance(node, ast.A_Const) and isinstance(node.val, (ast.Integer, ast.Float)):
        return ("number", str(getattr(node.val, "ival", None) or getattr(node.val, "fval", None)))
    if isinstance(node, ast.SQLValueFunction) and node.typmod is not None and node.typmod >= 0:
        return ("precision", node.typmod)
    if isinstance(node, ast.SelectStmt):
        return ("select", node.op.name)
    if isinstance(node, ast.SubLink):
        return ("subquery", node.subLinkType.name)
    if isinstance(node, ast.JoinExpr):
        return ("join", node.jointype.name, bool(node.isNatural))
    if isinstance(node, ast.RangeSubselect):
        return ("derived table", bool(node.lateral))
    if isinstance(node, ast.RangeFunction):
        return ("table function", bool(node.lateral))
    return None


def _is_interval(type_name: ast.TypeName | None) -> bool:
    names = [getattr(n, "sval", None) for n in (type_name.names if type_name else ())]
    return bool(names) and names[-1] == "interval"


def _log10_base(node: ast.Node) -> ast.Node | None:
    """The constant 10 of log(10, x), which sqlglot writes for log10(x)."""
    if not isinstance(node, ast.FuncCall) or len(node.args or ()) != 2:
        return None
    names = [getattr(n, "sval", None) for n in node.funcname]
    base = node.args[0]
    if names[-1] == "log" and isinstance(base, ast.A_Const) and getattr(base.val, "ival", None) == 10:
        return base
    return None
