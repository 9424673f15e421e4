"""Rule 3: read-only shapes only, and only nodes whose meaning we know.

The tree is checked against an allowlist of node classes, and for the nodes
that carry flags (a join's kind, a table's time travel, a SELECT's INTO or
FOR UPDATE) against an allowlist of arguments too. Whatever sqlglot parsed into
anything else, including its opaque Command fallback, is refused rather than
passed through. Function nodes are left to rule 5 (functions.py).
"""
from __future__ import annotations

from sqlglot import exp

from app.errors.query import SqlRejectedError
from app.gateway.context import MAX_IDENTIFIER_BYTES, RuleContext

ANY = None  # the node's arguments are expressions that are walked and checked themselves

# Node class -> the arguments it may carry (ANY: whatever; its children are checked).
ALLOWED_NODES: dict[type[exp.Expression], frozenset[str] | None] = {
    exp.Select: frozenset(
        {"with_", "expressions", "distinct", "from_", "joins", "where", "group", "having",
         "windows", "order", "limit", "offset"}
    ),
    exp.Union: frozenset({"with_", "this", "expression", "distinct", "order", "limit", "offset"}),
    exp.Except: frozenset({"with_", "this", "expression", "distinct", "order", "limit", "offset"}),
    exp.Intersect: frozenset({"with_", "this", "expression", "distinct", "order", "limit", "offset"}),
    exp.Values: frozenset({"expressions", "alias"}),
    exp.Subquery: frozenset({"this", "alias", "joins", "order", "limit", "offset"}),
    exp.With: frozenset({"expressions", "recursive"}),
    exp.CTE: frozenset({"this", "alias", "materialized"}),
    exp.Table: frozenset({"this", "alias", "db", "catalog", "joins", "only", "rows_from", "ordinality"}),
    exp.Join: frozenset({"this", "on", "side", "kind", "using", "method"}),
    exp.Lateral: frozenset({"this", "alias", "ordinality"}),
    exp.From: frozenset({"this"}),
    exp.Where: frozenset({"this"}),
    exp.Having: frozenset({"this"}),
    exp.Group: frozenset({"expressions"}),
    exp.Order: frozenset({"this", "expressions"}),
    exp.Ordered: frozenset({"this", "desc", "nulls_first"}),
    exp.Limit: frozenset({"expression"}),
    exp.Offset: frozenset({"expression"}),
    exp.Fetch: frozenset({"direction", "count", "limit_options"}),
    exp.LimitOptions: ANY,
    exp.Distinct: frozenset({"expressions", "on"}),
    exp.Window: frozenset({"this", "partition_by", "order", "spec", "alias", "over"}),
    exp.WindowSpec: ANY,
    exp.TableAlias: frozenset({"this", "columns"}),
    exp.Column: frozenset({"this", "table"}),
    exp.Identifier: frozenset({"this", "quoted"}),
    exp.Star: frozenset(),
    exp.Alias: frozenset({"this", "alias"}),
    exp.Literal: ANY,
    exp.RawString: ANY,  # $$dollar quoted$$: regenerated as a plain literal
    exp.ByteString: ANY,  # E'escape' strings
    exp.Boolean: ANY,
    exp.Null: ANY,
    exp.Var: ANY,
    exp.Paren: ANY,
    exp.Tuple: ANY,
    exp.Bracket: frozenset({"this", "expressions"}),
    exp.Slice: ANY,
    exp.Interval: frozenset({"this", "unit"}),
    exp.DataType: ANY,
    exp.DataTypeParam: ANY,
    exp.Filter: ANY,
    exp.WithinGroup: ANY,
    exp.Kwarg: ANY,
    exp.Dot: ANY,
    exp.Rollup: ANY,
    exp.Cube: ANY,
    exp.GroupingSets: ANY,
    exp.Any: ANY,
    exp.All: ANY,
    exp.In: frozenset({"this", "expressions", "query"}),
    exp.Between: ANY,
    exp.Like: ANY,
    exp.ILike: ANY,
    exp.SimilarTo: ANY,
    exp.Escape: ANY,
    exp.Is: ANY,
    exp.Not: ANY,
    exp.Neg: ANY,
    exp.EQ: ANY,
    exp.NEQ: ANY,
    exp.GT: ANY,
    exp.GTE: ANY,
    exp.LT: ANY,
    exp.LTE: ANY,
    exp.NullSafeEQ: ANY,
    exp.NullSafeNEQ: ANY,
    exp.Add: ANY,
    exp.Sub: ANY,
    exp.Mul: ANY,
    exp.Div: ANY,
    exp.IntDiv: ANY,
    exp.Mod: ANY,
    exp.BitwiseAnd: ANY,
    exp.BitwiseOr: ANY,
    exp.BitwiseXor: ANY,
    exp.BitwiseNot: ANY,
    exp.BitwiseLeftShift: ANY,
    exp.BitwiseRightShift: ANY,
    exp.DPipe: ANY,
    exp.AtTimeZone: ANY,
    exp.JSONPath: ANY,
    exp.JSONPathRoot: ANY,
    exp.JSONPathKey: ANY,
    exp.JSONPathSubscript: ANY,
}

# Friendly names for what people (and injected prompts) actually try.
_NAMED: dict[type[exp.Expression], str] = {
    exp.Insert: "INSERT", exp.Update: "UPDATE", exp.Delete: "DELETE", exp.Merge: "MERGE",
    exp.Create: "CREATE", exp.Drop: "DROP", exp.Alter: "ALTER", exp.TruncateTable: "TRUNCATE",
    exp.Copy: "COPY", exp.Set: "SET", exp.Transaction: "transaction control (BEGIN)",
    exp.Commit: "transaction control (COMMIT)", exp.Rollback: "transaction control (ROLLBACK)",
    exp.Describe: "DESCRIBE/EXPLAIN", exp.Grant: "GRANT", exp.Revoke: "REVOKE",
    exp.Into: "SELECT INTO", exp.Lock: "FOR UPDATE/FOR SHARE locking clause",
    exp.Parameter: "query parameter ($n)", exp.Placeholder: "query placeholder",
    exp.UnicodeString: "Unicode escape string (U&'...')", exp.ByteString: "byte string literal",
    exp.HexString: "hex string literal", exp.BitString: "bit string literal",
    exp.National: "national string literal", exp.TableSample: "TABLESAMPLE",
    exp.SessionParameter: "session parameter", exp.Returning: "RETURNING",
    exp.Use: "USE", exp.Show: "SHOW", exp.Analyze: "ANALYZE", exp.Pragma: "PRAGMA",
}
_QUERY_ROOTS = (exp.Select, exp.SetOperation, exp.Values, exp.Subquery)


def reject_statements(
    tree: exp.Expression, *, ctx: RuleContext, copy: bool = True
) -> exp.Expression:
    """The tree unchanged if it is one read-only query built only of known nodes.

    Raises SqlRejectedError naming the first construct that is not allowed.

    >>> import uuid; from sqlglot import parse_one
    >>> ctx = RuleContext(uuid.UUID(int=1), frozenset({"t"}), 10)
    >>> reject_statements(parse_one("SELECT 1"), ctx=ctx).sql()
    'SELECT 1'
    """
    _check_root(tree)
    for node in tree.walk():
        _check_node(node)
    return tree


def _check_root(tree: exp.Expression) -> None:
    root = tree
    while isinstance(root, exp.Subquery) and not root.args.get("alias"):
        root = root.this
    if isinstance(root, _QUERY_ROOTS):
        return
    raise SqlRejectedError(
        f"{describe(tree)} is not allowed: only a read-only query "
        "(SELECT, VALUES, set operations, WITH ... SELECT) may run"
    )


def _check_node(node: exp.Expr) -> None:
    cls = type(node)
    if isinstance(node, exp.Func) and cls not in ALLOWED_NODES:
        return  # functions.py decides
    if cls not in ALLOWED_NODES:
        raise SqlRejectedError(f"{describe(node)} is not allowed in agent queries")
    if isinstance(node, exp.Column) and (node.args.get("db") or node.args.get("catalog")):
        raise SqlRejectedError(
            f"schema-qualified column reference {node.sql(dialect='postgres')} is not allowed: "
            "qualify columns by table name or alias"
        )
    if isinstance(node, exp.Identifier) and len(str(node.this).encode()) > MAX_IDENTIFIER_BYTES:
        raise SqlRejectedError(
            f"identifier {str(node.this)[:20]}... is longer than {MAX_IDENTIFIER_BYTES} bytes"
        )
    permitted = ALLOWED_NODES[cls]
    if permitted is ANY:
        return
    for key, value in node.args.items():
        if key in permitted or value in (None, False, [], ""):
            continue
        first = value[0] if isinstance(value, list) else value
        if isinstance(first, exp.Expression) and type(first) in _NAMED:
            raise SqlRejectedError(f"{describe(first)} is not allowed in agent queries")
        raise SqlRejectedError(
            f"{describe(node)}: its {key.rstrip('_').upper()} part is not allowed in agent queries"
        )


def describe(node: exp.Expr) -> str:
    """A short name for a construct, for refusal messages."""
    if isinstance(node, exp.Command):
        return f"{str(node.this).upper()} command"
    if isinstance(node, exp.ObjectIdentifier):
        return f"type {node.name.upper()}"
    for cls, name in _NAMED.items():
        if isinstance(node, cls):
            return name
    try:
        text = node.sql(dialect="postgres", comments=False)
    except Exception:
        text = ""
    text = " ".join(text.split())
    snippet = f" ({text[:60]}{'...' if len(text) > 60 else ''})" if text else ""
    return f"{type(node).__name__}{snippet}"
