"""Rule 6: an upper bound on the bytes one agent query can build, or a refusal.

`work_mem` bounds sorts and hashes, and the byte budget bounds what is sent; neither
sees a value built inside the backend: `string_agg(format('%20000000s', g::text), '')`
over ten rows is 200 MB in one backend and one small row out. This rule bounds
every value a query can build, before anything runs, by interpreting the tree:

- each expression's size is a linear bound `m·X + c` bytes, X being the largest
  value a column can hold: a stored value of the tables the query reads (a CRM
  column's declared max_len in app/entities.py, which the API enforces, in UTF-8
  bytes; STORED_VALUE_BYTES, the API's request limit, for any other table), or a
  column of a CTE or derived table, bounded below;
- concatenation, format, concat, JSON and array builders add their arguments;
  replace, regexp_replace, array_to_string and translate multiply by a literal's
  size (a non-literal replacement or separator is refused); format's widths
  count as bytes and `*` widths are refused; repeat, lpad and rpad are not allowed
  at all (rule 5);
- CTEs, derived tables and subqueries feed columns to other SELECTs, so the
  growth factors of those inner SELECTs multiply (X* = product · (S + literals));
  a recursive CTE whose columns grow at each step is refused outright;
- aggregates that turn many rows into one value (string_agg, array_agg,
  json_agg, jsonb_agg, json_object_agg, jsonb_object_agg, xmlagg, ARRAY(subquery))
  are admitted only over a bounded row source: their SELECT reads one derived
  table with a literal LIMIT n (or ARRAY's subquery has one), so the value is
  at most n times its argument; never as window functions.

The sum of every built node's bound (what one row's evaluation can allocate)
must stay within ATLAS_QUERY_MAX_VALUE_BYTES. Numbers, dates and booleans are fixed-size.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlglot import exp

from app.entities import ENTITIES
from app.errors.query import SqlRejectedError
from app.gateway.context import RuleContext

STORED_VALUE_BYTES = 2 * 1024 * 1024  # MAX_CONTENT_LENGTH: no API write can store a larger value
FIXED_BYTES = 64  # a number, date, boolean or uuid (numeric is bounded by its type, ~74 kB, at worst)
BYTES_PER_CHAR = 4  # UTF-8
ROW_AGGREGATES = frozenset(
    ["string_agg", "array_agg", "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg", "xmlagg"]
)
_ROW_AGG_CLASSES: tuple[type[exp.Expression], ...] = (
    exp.GroupConcat, exp.ArrayAgg, exp.JSONArrayAgg, exp.JSONObjectAgg, exp.JSONBObjectAgg,
)
# Fixed-size results whatever their arguments (the arguments are still counted where they are built).
_FIXED: tuple[type, ...] = (
    exp.Predicate, exp.Connector, exp.Not, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Pow,
    exp.Neg, exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor, exp.BitwiseNot, exp.BitwiseLeftShift,
    exp.BitwiseRightShift, exp.Count, exp.Sum, exp.Avg, exp.Stddev, exp.StddevPop, exp.StddevSamp,
    exp.Variance, exp.VariancePop, exp.Corr, exp.CovarPop, exp.CovarSamp, exp.RegrSlope,
    exp.RegrIntercept, exp.RegrCount, exp.RegrR2, exp.LogicalAnd, exp.LogicalOr, exp.BitwiseAndAgg,
    exp.BitwiseOrAgg, exp.RowNumber, exp.Rank, exp.DenseRank, exp.PercentRank, exp.CumeDist,
    exp.Ntile, exp.Length, exp.BitLength, exp.StrPosition, exp.Extract, exp.MD5, exp.Ascii, exp.Chr,
    exp.Abs, exp.Ceil, exp.Floor, exp.Round, exp.Trunc, exp.Sign, exp.Sqrt, exp.Cbrt, exp.Exp,
    exp.Ln, exp.Log, exp.Pi, exp.Rand, exp.WidthBucket, exp.Degrees, exp.Radians, exp.Factorial,
    exp.CurrentDate, exp.CurrentTimestamp, exp.Localtimestamp, exp.TimestampTrunc, exp.DateTrunc,
    exp.MakeInterval, exp.TimestampFromParts, exp.StrToDate, exp.StrToTime, exp.UnixToTime,
    exp.DateBin, exp.JustifyDays, exp.JustifyHours, exp.JustifyInterval, exp.Exists, exp.Uuid,
    exp.ArraySize, exp.ArrayPosition, exp.StartsWith, exp.RegexpLike, exp.RegexpILike,
    exp.ArrayContainsAll, exp.ArrayOverlaps, exp.JSONBContainsTopKey, exp.Boolean, exp.Null,
    exp.Interval, exp.GenerateSeries, exp.ExplodingGenerateSeries, exp.Grouping,
)
_FIXED_NAMES = frozenset(
    ["count", "length", "char_length", "character_length", "octet_length", "bit_length", "strpos",
     "position", "ascii", "md5", "num_nulls", "num_nonnulls", "gen_random_uuid", "cardinality",
     "array_length", "jsonb_array_length", "json_array_length", "jsonb_typeof", "json_typeof", "div",
     "mod", "gcd", "lcm", "now", "clock_timestamp", "statement_timestamp", "transaction_timestamp",
     "age", "make_date", "date_part", "isfinite", "to_number", "generate_series", "width_bucket",
     "starts_with", "every", "bool_and", "bool_or", "regr_avgx", "regr_avgy", "mode",
     "percentile_cont", "percentile_disc", "lag_count"]
)
_MAX_OF_ARGS: tuple[type[exp.Expression], ...] = (
    exp.Coalesce, exp.Case, exp.If, exp.Nullif, exp.Greatest, exp.Least, exp.Min, exp.Max,
)
_JSON_ESCAPE = 6  # a control character becomes \u00XX
_CASE_GROWTH = 2  # UTF-8 case mapping can lengthen a character
_TO_CHAR_GROWTH = 8
_ARRAY_SPLIT = 8  # one-character elements, each with its header and alignment
_WIDTH = re.compile(r"%(?:\d+\$)?[-]?(\*|\d+)?(?:\d+\$)?[sIL%]")


@dataclass(frozen=True)
class Size:
    """At most m·X + c bytes, X being the largest value a column can hold."""

    m: float
    c: float

    def __add__(self, other: Size) -> Size:
        return Size(self.m + other.m, self.c + other.c)

    def times(self, factor: float) -> Size:
        return Size(self.m * factor, self.c * factor)

    def at(self, x: float) -> float:
        return self.m * x + self.c


ZERO = Size(0, 0)
FIXED = Size(0, FIXED_BYTES)


def bound_values(tree: exp.Expression, *, ctx: RuleContext, copy: bool = True) -> exp.Expression:
    """The tree unchanged if every value it can build fits ATLAS_QUERY_MAX_VALUE_BYTES.

    Raises SqlRejectedError naming the construct and the bound.

    >>> import uuid; from sqlglot import parse_one
    >>> ctx = RuleContext(uuid.UUID(int=1), frozenset(), 10)
    >>> bound_values(parse_one("SELECT first_name || ' ' || last_name FROM contacts"), ctx=ctx).sql()
    "SELECT first_name || ' ' || last_name FROM contacts"
    """
    _Bounds(tree, ctx).check()
    return tree


class _Bounds:
    """One pass over a query: the growth of every inner SELECT, then every built node at X*."""

    def __init__(self, tree: exp.Expression, ctx: RuleContext) -> None:
        self.tree, self.ctx = tree, ctx
        self.row_names = _row_names(tree)
        self.stored, row = _stored_bytes(tree)
        self.row_factor = row / self.stored if self.stored else 1.0
        self.built: list[Size] = []  # every node that allocates a new value

    def check(self) -> None:
        top = set(map(id, _top_selects(self.tree)))
        recursive = _recursive_bodies(self.tree)
        growth, literals = 1.0, 0.0
        for select in self.tree.find_all(exp.Select):
            sizes = [self.size(e) for e in select.expressions]
            for clause in ("where", "having", "group", "order", "qualify", "joins"):
                for part in _as_list(select.args.get(clause)):
                    self.clauses(part)
            if id(select) in top:
                continue
            if id(select) in recursive and any(s.m > 1 or (s.m >= 1 and s.c > 0) for s in sizes):
                raise SqlRejectedError(
                    "a recursive CTE whose values grow at every step can build a value of any size; "
                    "agent queries may only carry numbers, dates or unchanged values through recursion"
                )
            growth *= max([1.0, *(s.m for s in sizes)])
            literals += max([0.0, *(s.c for s in sizes)])
        for table in self.tree.find_all(exp.Table):
            if not isinstance(table.this, exp.Identifier):
                self.size(table.this)  # unnest(ARRAY[...]), generate_series(...): what their arguments build
        literals += sum(len(str(lit.this).encode()) for lit in self.tree.find_all(exp.Literal))
        biggest = growth * (self.stored + literals)
        total = sum(s.at(biggest) for s in self.built)
        limit = self.ctx.max_value_bytes
        if not math.isfinite(total) or total > limit:
            raise SqlRejectedError(
                f"this query can build values of up to {_mb(total)} in one row (columns of up to "
                f"{_mb(biggest)} combined); the limit is {_mb(limit)} (ATLAS_QUERY_MAX_VALUE_BYTES): "
                "concatenate or aggregate fewer columns, or bound them with left(x, n)"
            )

    def size(self, node: exp.Expression) -> Size:
        """The bound of node's value; every node that allocates is also added to self.built."""
        result = self._size(node)
        if not isinstance(node, (exp.Column, exp.Literal, exp.Star, exp.Subquery, exp.Paren, exp.Alias,
                                 exp.Select, exp.SetOperation)):
            self.built.append(result)
        return result

    def _size(self, node: exp.Expression) -> Size:
        if isinstance(node, exp.Literal):
            return Size(0, len(str(node.this).encode()))
        if isinstance(node, exp.Column):
            if not node.table and node.name in self.row_names:
                return Size(self.row_factor, 0)
            return Size(1, 0)
        if isinstance(node, exp.Star):
            return Size(1, 0)
        if isinstance(node, (exp.Subquery, exp.Select, exp.SetOperation)):
            return Size(1, 0)  # a scalar subquery: its projections are an inner SELECT's (counted in X*)
        if isinstance(node, (exp.Paren, exp.Alias)):
            return self.size(node.this)
        if isinstance(node, exp.Window):
            if _row_aggregate_name(node.this):
                raise SqlRejectedError(
                    f"{_row_aggregate_name(node.this)} as a window function builds a value per row from "
                    "the whole frame; agent queries may not use it"
                )
            return self.size(node.this)
        name = _row_aggregate_name(node)
        if name:
            rows = _bounded_rows(node)
            if rows is None:
                raise SqlRejectedError(
                    f"{name} builds one value from every row it reads, which can take the database "
                    "server's memory; read a derived table with a LIMIT, e.g. "
                    f"SELECT {name}(...) FROM (SELECT ... LIMIT 100) AS t, and bound long values with left(x, n)"
                )
            escape = 1 if name in ("string_agg", "array_agg") else _JSON_ESCAPE
            return self._args(node).times(rows * escape) + Size(0, FIXED_BYTES * rows)
        if isinstance(node, exp.Array) and any(isinstance(a, (exp.Select, exp.Subquery)) for a in node.expressions):
            query = next(a for a in node.expressions if isinstance(a, (exp.Select, exp.Subquery)))
            rows = _limit_of(query.this if isinstance(query, exp.Subquery) else query)
            if rows is None:
                raise SqlRejectedError(
                    "ARRAY(subquery) builds one value from every row of the subquery; give the "
                    "subquery a LIMIT, e.g. ARRAY(SELECT ... LIMIT 100)"
                )
            return Size(rows, FIXED_BYTES * rows)
        if isinstance(node, exp.Format):
            return self._format(node)
        if isinstance(node, exp.Replace):
            return self._multiplied(node, subject=node.this, literal=node.args.get("replacement"),
                                    what="the replacement", scale=1, extra=0)
        if isinstance(node, exp.RegexpReplace):  # \1 in the replacement repeats a match; '' matches everywhere
            return self._multiplied(node, subject=node.this, literal=node.args.get("replacement"),
                                    what="the replacement", scale=2, extra=1)
        if isinstance(node, exp.ArrayToString):
            return self._multiplied(node, subject=node.this, literal=node.expression, what="the separator",
                                    scale=1, extra=1 + _literal_bytes(node.args.get("null")))
        if isinstance(node, exp.ConcatWs):  # the separator goes between every two arguments
            args = list(_children(node))
            if not args:
                return FIXED
            sep, rest = args[0], args[1:]
            total = self.size(sep).times(max(len(rest) - 1, 0))
            for arg in rest:
                total = total + self.size(arg)
            return total + Size(0, FIXED_BYTES)
        if isinstance(node, exp.TimeToStr) or _name(node) == "to_char":  # 'RN', 'Month': a few bytes per format byte
            return self._args(node).times(_TO_CHAR_GROWTH)
        if _name(node) in {"json_build_object", "jsonb_build_object", "json_build_array", "jsonb_build_array"}:
            return self._args(node).times(_JSON_ESCAPE) + Size(0, FIXED_BYTES)
        if isinstance(node, exp.Translate):
            return self._args(node).times(BYTES_PER_CHAR)
        if isinstance(node, (exp.Upper, exp.Lower, exp.Initcap)):
            return self._args(node).times(_CASE_GROWTH)
        if isinstance(node, (exp.StringToArray,)) or _name(node) in {"regexp_split_to_array", "regexp_matches",
                                                                     "regexp_match"}:
            return self._args(node).times(_ARRAY_SPLIT)
        if isinstance(node, exp.Left | exp.Right) and _literal_int(node.expression) is not None:
            self._args(node)
            chars = _literal_int(node.expression) or 0
            return Size(0, max(chars, 0) * BYTES_PER_CHAR)
        if _name(node) in {"to_json", "to_jsonb", "row_to_json"}:
            return self._args(node).times(_JSON_ESCAPE) + Size(0, 2)
        if isinstance(node, exp.Cast):
            inner = self.size(node.this)
            return inner.times(_JSON_ESCAPE) + Size(0, FIXED_BYTES)  # jsonb or an array as text: escaped
        if isinstance(node, _FIXED) or _name(node) in _FIXED_NAMES:
            self._args(node)
            return FIXED
        if isinstance(node, _MAX_OF_ARGS):
            sizes = [self.size(a) for a in _children(node)]
            return Size(max([0.0, *(s.m for s in sizes)]), max([0.0, *(s.c for s in sizes)]))
        # Everything else (||, concat, concat_ws, overlay, builders, substring, trim, ...) is at
        # most the sum of its arguments, plus a little framing.
        return self._args(node) + Size(0, FIXED_BYTES)

    def _args(self, node: exp.Expression) -> Size:
        """The sum of node's arguments; ORDER BY inside a call is evaluated (counted as built) but not output."""
        total = ZERO
        for child in _children(node):
            if isinstance(child, exp.Order):
                self.clauses(child)
            else:
                total = total + self.size(child)
        return total

    def clauses(self, node: exp.Expression) -> None:
        """Count what a clause builds (WHERE, ORDER BY, ...); its values are not output."""
        for child in node.iter_expressions():
            if isinstance(child, (exp.Select, exp.SetOperation, exp.Subquery)):
                continue  # a SELECT of its own, visited by check()
            if isinstance(child, (exp.Order, exp.Ordered, exp.Where, exp.Having, exp.Group, exp.Join,
                                  exp.Tuple, exp.Qualify)):
                self.clauses(child)
            elif not isinstance(child, (exp.Table, exp.DataType, exp.TableAlias, exp.Identifier)):
                self.size(child)

    def _format(self, node: exp.Format) -> Size:
        template = node.this
        if not (isinstance(template, exp.Literal) and template.is_string):
            raise SqlRejectedError("format() needs a literal format string in agent queries")
        args = [self.size(a) for a in node.expressions]
        text = str(template.this)
        total = Size(0, len(text.encode()))
        position = 0
        for match in _WIDTH.finditer(text):
            width, spec = match.group(1), match.group(0)
            if spec == "%%":
                continue
            if width == "*":
                raise SqlRejectedError("format() with a * width builds a value of any size; write the width literally")
            if width:
                total = total + Size(0, int(width) * BYTES_PER_CHAR)
            positional = re.match(r"%(\d+)\$", spec)
            index = int(positional.group(1)) - 1 if positional else position
            position = index + 1
            if 0 <= index < len(args):  # %L and %I quote: doubled quotes, E'' around
                total = total + (args[index] if spec.endswith("s") else args[index].times(2) + Size(0, 3))
        return total

    def _multiplied(self, node: exp.Expression, *, subject: exp.Expression, literal: exp.Expression | None,
                    what: str, scale: int, extra: int) -> Size:
        if literal is not None and not (isinstance(literal, exp.Literal) and literal.is_string):
            raise SqlRejectedError(
                f"{_name(node) or type(node).__name__.lower()} with a computed {what[4:]} can multiply a value's "
                f"size; write {what} as a literal in agent queries"
            )
        for child in _children(node):
            if child is not subject:
                self.size(child)
        factor = max(1, scale * _literal_bytes(literal) + extra)
        return self.size(subject).times(factor) + Size(0, FIXED_BYTES)


def _children(node: exp.Expression) -> Iterable[exp.Expression]:
    return [c for c in node.iter_expressions() if not isinstance(c, (exp.DataType, exp.Identifier))]


def _as_list(value: object) -> list[exp.Expression]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, exp.Expression)]
    return [value] if isinstance(value, exp.Expression) else []


def _name(node: exp.Expression) -> str:
    return str(node.name).lower() if isinstance(node, exp.Anonymous) else ""


def _row_aggregate_name(node: exp.Expression) -> str:
    if isinstance(node, _ROW_AGG_CLASSES):
        names: dict[type, str] = {exp.GroupConcat: "string_agg", exp.ArrayAgg: "array_agg", exp.JSONArrayAgg: "json_agg",
                exp.JSONObjectAgg: "json_object_agg", exp.JSONBObjectAgg: "jsonb_object_agg"}
        return names[type(node)]
    return _name(node) if _name(node) in ROW_AGGREGATES else ""


def _literal_bytes(node: exp.Expression | None) -> int:
    return len(str(node.this).encode()) if isinstance(node, exp.Literal) else 0


def _literal_int(node: exp.Expression | None) -> int | None:
    if isinstance(node, exp.Literal) and node.is_int:
        return int(node.this)
    return None


def _limit_of(query: exp.Expression) -> int | None:
    """A query's literal LIMIT (no OFFSET needed: it only skips rows), else None."""
    limit = query.args.get("limit") if isinstance(query, (exp.Select, exp.SetOperation)) else None
    if isinstance(limit, exp.Limit):
        return _literal_int(limit.expression)
    return None


def _bounded_rows(aggregate: exp.Expression) -> int | None:
    """At most how many rows the aggregate's SELECT reads: one derived table with a literal LIMIT."""
    select = aggregate.find_ancestor(exp.Select)
    if select is None or select.args.get("joins") or select.args.get("laterals"):
        return None
    group = select.args.get("group")
    if group is not None and (any(group.args.get(k) for k in ("grouping_sets", "cube", "rollup"))
                              or any(group.find_all(exp.Cube, exp.Rollup, exp.GroupingSets))):
        return None  # every grouping set aggregates the rows again, all at once when hashed
    source = select.args.get("from_") or select.args.get("from")
    derived = source.this if isinstance(source, exp.From) else None
    if not isinstance(derived, exp.Subquery):
        return None
    return _limit_of(derived.this)


def _top_selects(tree: exp.Expression | None) -> list[exp.Select]:
    """The SELECTs whose projections are the result itself (feeding no other SELECT)."""
    node = tree
    while isinstance(node, exp.Subquery):
        node = node.this
    if isinstance(node, exp.SetOperation):
        left, right = node.args.get("this"), node.args.get("expression")
        return _top_selects(left) + _top_selects(right)
    return [node] if isinstance(node, exp.Select) else []


def _recursive_bodies(tree: exp.Expression) -> set[int]:
    bodies: set[int] = set()
    for with_ in tree.find_all(exp.With):
        if with_.args.get("recursive"):
            for cte in with_.expressions:
                bodies.update(id(s) for s in cte.this.find_all(exp.Select))
    return bodies


def _entity_bytes() -> dict[str, tuple[int, int]]:
    """Per CRM table: its largest value and its largest row, in bytes, as the API lets them be written."""
    sizes: dict[str, tuple[int, int]] = {}
    for entity in ENTITIES.values():
        values = [
            (field.max_len * BYTES_PER_CHAR if field.max_len is not None else STORED_VALUE_BYTES)
            if field.kind in ("text", "email", "choice") else FIXED_BYTES
            for field in entity.fields
        ]
        sizes[entity.table] = (max([FIXED_BYTES, *values]), sum(values) + 8 * FIXED_BYTES)  # + id, org_id, stamps
    return sizes


_ENTITY_BYTES = _entity_bytes()


def _stored_bytes(tree: exp.Expression) -> tuple[int, int]:
    """The largest value and the largest row of the tables the query reads (0 when it reads none)."""
    ctes = {c.alias for c in tree.find_all(exp.CTE)}
    value = row = 0
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier) or (table.name in ctes and not table.db):
            continue  # a set-returning function (its arguments are counted where built) or a CTE
        one, whole = _ENTITY_BYTES.get(table.name, (STORED_VALUE_BYTES, 32 * STORED_VALUE_BYTES))
        value, row = max(value, one), max(row, whole)
    return value, row


def _row_names(tree: exp.Expression) -> frozenset[str]:
    """Names that may stand for a whole row: tables, their aliases, CTEs."""
    names = {t.alias_or_name for t in tree.find_all(exp.Table) if isinstance(t.this, exp.Identifier)}
    names |= {s.alias for s in tree.find_all(exp.Subquery) if s.alias}
    names |= {c.alias for c in tree.find_all(exp.CTE) if c.alias}
    return frozenset(n for n in names if n)


def _mb(size: float) -> str:
    if not math.isfinite(size):
        return "an unbounded size"
    return f"{size / (1024 * 1024):.1f} MB"
