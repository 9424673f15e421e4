"""Rule: agent SQL does not name the tenancy column; the gateway sets the org.

Every table the agent reads becomes `(SELECT * FROM t WHERE t.org_id = '<org>')`
(rewrite.py) and RLS filters again, so a query that filters on another org's id
can only get its own rows back. Such a query is still an attempt to choose the
org, which is the gateway's to set: refusing it makes the attempt visible (a
`query.refused` audit entry, a refusal the agent reports) instead of an
ordinary-looking empty result. The semantic layer never exposes `org_id` as a
dimension either (semantic/README.md), so no honest generated query names it.

The rule is by name: any identifier that folds to `org_id`, wherever it stands
(a column, qualified or not, in any clause, subquery or CTE; a USING list; an
output alias; a table or CTE column list; a field of a row value). It is a
signal, not a lock: renaming a column by position, whole-row values and `*`
still read the org's own `org_id` values, and the locks above decide the rows.
On an org's own datasource (org_predicate off) the database is the org's and an
`org_id` column there is ordinary data, so the rule does not apply.
"""
from __future__ import annotations

from sqlglot import exp

from app.errors.query import SqlRejectedError
from app.gateway.context import ORG_COLUMN, RuleContext, fold_identifier

MESSAGE = (
    f"column {ORG_COLUMN} may not be named in agent queries: the organization is applied automatically "
    f"(every table reads only this organization's rows); remove {ORG_COLUMN} from the query"
)


def refuse_tenancy_column(
    tree: exp.Expression, *, ctx: RuleContext, copy: bool = True
) -> exp.Expression:
    """The tree unchanged if no identifier in it names the tenancy column.

    Raises SqlRejectedError saying the org is applied automatically.

    >>> import uuid; from sqlglot import parse_one
    >>> ctx = RuleContext(uuid.UUID(int=1), frozenset({"t"}), 10)
    >>> refuse_tenancy_column(parse_one("SELECT a FROM t"), ctx=ctx).sql()
    'SELECT a FROM t'
    """
    if not ctx.org_predicate:
        return tree
    for node in tree.find_all(exp.Identifier):
        if fold_identifier(str(node.this), quoted=bool(node.quoted)) == ORG_COLUMN:
            raise SqlRejectedError(MESSAGE)
    return tree
