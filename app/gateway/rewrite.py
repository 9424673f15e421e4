"""Rule 6: every occurrence of a real table reads only the org's rows.

Each table reference `t [AS x]` becomes a filtered derived table

    (SELECT * FROM public.t WHERE t.org_id = '<org>') AS x

rather than a predicate added to the enclosing WHERE. Why this shape:
- it is per occurrence, so `SELECT o.id, (SELECT sum(amount) FROM opportunities)
  FROM opportunities o` filters both, in a scalar subquery, HAVING, ORDER BY or
  JOIN ON just as in FROM; no WHERE clause has to exist or be found;
- the filter sits inside the join operand, so outer joins keep their meaning
  (a WHERE predicate on the nullable side of a LEFT JOIN would turn it inner);
- it works unchanged in LATERAL, set-operation arms, CTE bodies and recursive
  CTEs, and keeps the alias and column list, so the query around it is untouched;
- the shape is trivial for crosscheck.py to recognise in PostgreSQL's own tree.
PostgreSQL pulls such subqueries up, so plans keep using the (org_id, ...) indexes.
"""
from __future__ import annotations

import uuid

from sqlglot import exp

from app.gateway.context import ORG_COLUMN, PUBLIC_SCHEMA, RuleContext
from app.gateway.tables import TableRef, table_refs


def inject_org_predicate(
    tree: exp.Expression, *, ctx: RuleContext, copy: bool = True
) -> exp.Expression:
    """The tree (a copy unless copy=False) in which every real table is the org-filtered derived table.

    >>> import uuid; from sqlglot import parse_one
    >>> ctx = RuleContext(uuid.UUID(int=1), frozenset({"t"}), 10)
    >>> print(inject_org_predicate(parse_one("SELECT a FROM t"), ctx=ctx).sql(pretty=True))
    SELECT
      a
    FROM (
      SELECT
        *
      FROM "public"."t"
      WHERE
        "t"."org_id" = '00000000-0000-0000-0000-000000000001'
    ) AS "t"
    """
    if copy:
        tree = tree.copy()
    for ref in table_refs(tree):
        if not ref.is_cte:
            _guard(ref, ctx.org_id if ctx.org_predicate else None)
    return tree


def guarded_select(table: str, org_id: uuid.UUID | None, *, only: bool = False) -> exp.Select:
    """SELECT * FROM public.<table> WHERE <table>.org_id = '<org>' (no WHERE when org_id is None)."""
    source = exp.Table(this=_ident(table), db=_ident(PUBLIC_SCHEMA), only=only or None)
    select = exp.Select(expressions=[exp.Star()], from_=exp.From(this=source))
    if org_id is None:  # an org's own datasource: the whole database is the org's
        return select
    predicate = exp.EQ(
        this=exp.Column(this=_ident(ORG_COLUMN), table=_ident(table)),
        expression=exp.Literal.string(str(org_id)),
    )
    return select.where(predicate, copy=False)


def _guard(ref: TableRef, org_id: uuid.UUID | None) -> None:
    """Turn the table node into `(guarded select) AS alias`, in place.

    In place, because the node may carry the joins of a parenthesized join
    (`FROM (a JOIN b ON ...)`), which must stay where they are.
    """
    node = ref.node
    alias = node.args.get("alias") or exp.TableAlias(this=_ident(ref.name))
    subquery = exp.Subquery(this=guarded_select(ref.name, org_id, only=bool(node.args.get("only"))))
    node.set("this", subquery)
    node.set("db", None)
    node.set("catalog", None)
    node.set("only", None)
    node.set("alias", alias)


def _ident(name: str) -> exp.Identifier:
    return exp.Identifier(this=name, quoted=True)
