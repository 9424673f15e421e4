"""Rule 7: fetch at most row_limit + 1 rows, so `truncated` can be told apart from exact fits."""
from __future__ import annotations

from sqlglot import exp

from app.gateway.context import RuleContext

RESULT_ALIAS = "atlas_result"
_LIMIT_ARGS = ("limit", "offset")


def apply_row_limit(
    tree: exp.Expression, *, ctx: RuleContext, copy: bool = True
) -> exp.Expression:
    """The query (a copy unless copy=False) returning at most ctx.row_limit + 1 rows.

    A query without its own LIMIT/OFFSET/FETCH gets the limit directly (its
    ORDER BY then decides which rows are kept, exactly as written); any other
    query is wrapped as `SELECT * FROM (<query>) AS atlas_result LIMIT n`.

    >>> import uuid; from sqlglot import parse_one
    >>> ctx = RuleContext(uuid.UUID(int=1), frozenset(), 10)
    >>> apply_row_limit(parse_one("SELECT 1 LIMIT 50"), ctx=ctx).sql()
    'SELECT * FROM (SELECT 1 LIMIT 50) AS "atlas_result" LIMIT 11'
    """
    fetch = ctx.row_limit + 1
    query = _unwrap(tree.copy() if copy else tree)
    if isinstance(query, (exp.Select, exp.SetOperation)) and not any(
        query.args.get(arg) for arg in _LIMIT_ARGS
    ):
        query.set("limit", exp.Limit(expression=exp.Literal.number(fetch)))
        return query
    alias = exp.TableAlias(this=exp.Identifier(this=RESULT_ALIAS, quoted=True))
    wrapped = exp.Subquery(this=query, alias=alias)
    return exp.Select(
        expressions=[exp.Star()],
        from_=exp.From(this=wrapped),
        limit=exp.Limit(expression=exp.Literal.number(fetch)),
    )


def _unwrap(tree: exp.Expression) -> exp.Expression:
    """`(SELECT ...)` at top level is the SELECT itself."""
    while isinstance(tree, exp.Subquery) and not tree.args.get("alias") and not any(
        tree.args.get(a) for a in ("joins", "order", "limit", "offset")
    ):
        tree = tree.this
    return tree
