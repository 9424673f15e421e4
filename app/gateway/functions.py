"""Rule 5: a curated list of ordinary functions and casts; everything else is refused.

Two views of the same list. sqlglot turns many calls into typed nodes (SUM ->
exp.Sum), so the tree is checked by node class, and unknown calls (exp.Anonymous)
by name. PostgreSQL's parser sees the regenerated SQL by function name, which
crosscheck.py checks against PG_FUNCTIONS. Settings, files, large objects,
dblink, advisory locks, sleeps, XML/query_to_* helpers and anything pg_* are
absent on purpose; so are string builders that allocate without bound (repeat,
lpad, rpad).
"""
from __future__ import annotations

from sqlglot import exp

from app.errors.query import SqlRejectedError
from app.gateway.context import RuleContext
from app.gateway.statements import describe

# PostgreSQL function names the regenerated SQL may call (crosscheck.py).
PG_FUNCTIONS: frozenset[str] = frozenset(
    ["count", "sum", "avg", "min", "max", "bool_and", "bool_or", "every", "string_agg", "array_agg", "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp", "corr", "covar_pop", "covar_samp", "regr_slope", "regr_intercept", "regr_count", "regr_r2", "regr_avgx", "regr_avgy", "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg", "mode", "percentile_cont", "percentile_disc", "bit_and", "bit_or", "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead", "first_value", "last_value", "nth_value", "lower", "upper", "initcap", "length", "char_length", "character_length", "octet_length", "bit_length", "substring", "substr", "position", "strpos", "btrim", "ltrim", "rtrim", "replace", "concat", "concat_ws", "left", "right", "split_part", "starts_with", "reverse", "regexp_replace", "regexp_match", "regexp_matches", "regexp_split_to_array", "to_char", "format", "md5", "translate", "ascii", "chr", "overlay", "string_to_array", "similar_to_escape", "abs", "ceil", "ceiling", "floor", "round", "trunc", "sign", "sqrt", "cbrt", "power", "exp", "ln", "log", "log10", "mod", "div", "pi", "random", "width_bucket", "degrees", "radians", "gcd", "lcm", "factorial", "now", "date_trunc", "date_part", "extract", "age", "make_date", "make_interval", "make_timestamp", "to_date", "to_timestamp", "to_number", "date_bin", "justify_days", "justify_hours", "justify_interval", "isfinite", "timezone", "clock_timestamp", "statement_timestamp", "transaction_timestamp", "json_build_object", "jsonb_build_object", "json_build_array", "jsonb_build_array", "to_json", "to_jsonb", "row_to_json", "jsonb_array_length", "json_array_length", "jsonb_typeof", "json_typeof", "jsonb_extract_path", "jsonb_extract_path_text", "json_extract_path", "json_extract_path_text", "jsonb_object_keys", "jsonb_array_elements", "jsonb_array_elements_text", "jsonb_each", "jsonb_each_text", "jsonb_strip_nulls", "array_length", "cardinality", "unnest", "array_to_string", "array_position", "array_append", "array_prepend", "array_cat", "array_remove", "generate_series", "num_nulls", "num_nonnulls", "gen_random_uuid"]
)

# sqlglot's typed nodes for those functions (and for operators it models as functions).
_CLASSES: tuple[type[exp.Func], ...] = (
    exp.And, exp.Or, exp.Case, exp.If, exp.Cast, exp.Coalesce, exp.Nullif, exp.Greatest,
    exp.Least, exp.Grouping, exp.Exists, exp.Array, exp.Collate, exp.Extract, exp.Unnest, exp.Explode,
    exp.ExplodingGenerateSeries, exp.GenerateSeries,
    exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.LogicalAnd, exp.LogicalOr,
    exp.GroupConcat, exp.ArrayAgg, exp.Stddev, exp.StddevPop, exp.StddevSamp, exp.Variance,
    exp.VariancePop, exp.Corr, exp.CovarPop, exp.CovarSamp, exp.RegrSlope, exp.RegrIntercept,
    exp.RegrCount, exp.RegrR2, exp.JSONArrayAgg, exp.JSONObjectAgg, exp.JSONBObjectAgg,
    exp.Mode, exp.PercentileCont, exp.PercentileDisc, exp.BitwiseAndAgg, exp.BitwiseOrAgg,
    exp.RowNumber, exp.Rank, exp.DenseRank, exp.PercentRank, exp.CumeDist, exp.Ntile, exp.Lag,
    exp.Lead, exp.FirstValue, exp.LastValue, exp.NthValue,
    exp.Lower, exp.Upper, exp.Initcap, exp.Length, exp.BitLength, exp.Substring,
    exp.StrPosition, exp.Trim, exp.Replace, exp.Concat, exp.ConcatWs, exp.Left, exp.Right,
    exp.SplitPart, exp.StartsWith, exp.Reverse, exp.RegexpReplace, exp.RegexpLike,
    exp.RegexpILike, exp.TimeToStr, exp.Format, exp.MD5, exp.Translate, exp.Ascii, exp.Chr,
    exp.Overlay, exp.StringToArray,
    exp.Abs, exp.Ceil, exp.Floor, exp.Round, exp.Trunc, exp.Sign, exp.Sqrt, exp.Cbrt, exp.Pow,
    exp.Exp, exp.Ln, exp.Log, exp.Pi, exp.Rand, exp.WidthBucket, exp.Degrees, exp.Radians,
    exp.Factorial,
    exp.CurrentDate, exp.CurrentTimestamp, exp.Localtimestamp,
    exp.TimestampTrunc, exp.DateTrunc, exp.MakeInterval, exp.TimestampFromParts, exp.StrToDate,
    exp.StrToTime, exp.UnixToTime, exp.DateBin, exp.JustifyDays, exp.JustifyHours,
    exp.JustifyInterval,
    exp.JSONExtract, exp.JSONExtractScalar, exp.JSONBExtract, exp.JSONBExtractScalar,
    exp.JSONBContainsTopKey, exp.ArrayContainsAll, exp.ArrayOverlaps,
    exp.ArraySize, exp.ArrayToString, exp.ArrayPosition, exp.ArrayAppend, exp.ArrayConcat,
    exp.ArrayRemove, exp.Uuid,
)
ALLOWED_CLASSES: frozenset[type[exp.Func]] = frozenset(_CLASSES)

# Calls sqlglot leaves anonymous; `row` and `all` are its nodes for ROW(...) and = ALL(...).
ANONYMOUS_ALLOWED: frozenset[str] = PG_FUNCTIONS | {"row", "all"}

# Cast targets (sqlglot's types); regclass, oid, xml, pg_lsn and friends are not among them.
_T = exp.DataType.Type
ALLOWED_TYPES: frozenset[exp.DType] = frozenset(
    {
        _T.SMALLINT, _T.INT, _T.BIGINT, _T.DECIMAL, _T.FLOAT, _T.DOUBLE, _T.TEXT, _T.VARCHAR,
        _T.CHAR, _T.BOOLEAN, _T.DATE, _T.TIME, _T.TIMETZ, _T.TIMESTAMP, _T.TIMESTAMPTZ,
        _T.INTERVAL, _T.UUID, _T.JSON, _T.JSONB, _T.ARRAY, _T.MONEY,
    }
)


def check_functions(
    tree: exp.Expression, *, ctx: RuleContext, copy: bool = True
) -> exp.Expression:
    """The tree unchanged if every call and cast in it is on the curated list.

    Raises SqlRejectedError naming the first function or type refused.
    """
    for node in tree.walk():
        if isinstance(node, exp.DataType):
            _check_type(node)
        elif isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
            raise SqlRejectedError(
                f"schema-qualified function call {node.sql(dialect='postgres')} is not allowed"
            )
        elif isinstance(node, exp.Anonymous):
            name = str(node.name).lower()
            if name not in ANONYMOUS_ALLOWED:
                raise SqlRejectedError(f"function {name} is not allowed in agent queries")
        elif isinstance(node, exp.Func) and type(node) not in ALLOWED_CLASSES:
            raise SqlRejectedError(
                f"function {node.sql_name().lower()} is not allowed in agent queries ({describe(node)})"
            )
    return tree


def _check_type(node: exp.DataType) -> None:
    if node.this not in ALLOWED_TYPES:
        raise SqlRejectedError(
            f"type {node.sql(dialect='postgres')} is not allowed in agent queries"
        )
