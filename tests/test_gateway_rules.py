"""Each gateway rule on its own: fixture pairs, refusals that name the construct, and the
PostgreSQL-parser cross-check fed SQL that sqlglot never produced."""
from __future__ import annotations

import doctest
import importlib
import uuid

import pytest

from app.errors.query import SqlInvalidError, SqlRejectedError
from app.gateway import RULES, prepare
from app.gateway.context import RuleContext
from app.gateway.crosscheck import check_final_sql, pg_parse, single_select
from app.gateway.functions import check_functions
from app.gateway.limits import check_size
from app.gateway.parse import parse_statement
from app.gateway.rewrite import guarded_select, inject_org_predicate
from app.gateway.row_limit import apply_row_limit
from app.gateway.skeleton import compare
from app.gateway.statements import reject_statements
from app.gateway.tables import check_tables
from app.query_settings import CRM_TABLES
from tests.gateway_corpus import load_fixture_pairs

ORG = uuid.UUID("00000000-0000-4000-8000-0000000000aa")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000bb")
CTX = RuleContext(ORG, frozenset(CRM_TABLES), 10)


def _ids(triples):
    return [t[0] for t in triples]


REWRITES = load_fixture_pairs("rewrite.sql")
LIMITS = load_fixture_pairs("row_limit.sql")
REFUSALS = load_fixture_pairs("refused.sql")


@pytest.mark.parametrize("title,given,expected", REWRITES, ids=_ids(REWRITES))
def test_rewrite_fixture(title, given, expected):
    tree = parse_statement(given)
    for rule in (reject_statements, check_tables, check_functions, inject_org_predicate):
        tree = rule(tree, ctx=CTX)
    assert tree.sql(dialect="postgres", comments=False) == expected


@pytest.mark.parametrize("title,given,expected", LIMITS, ids=_ids(LIMITS))
def test_row_limit_fixture(title, given, expected):
    assert apply_row_limit(parse_statement(given), ctx=CTX).sql(dialect="postgres") == expected


@pytest.mark.parametrize("title,given,expected", REFUSALS, ids=_ids(REFUSALS))
def test_refusal_names_the_construct(title, given, expected):
    with pytest.raises((SqlRejectedError, SqlInvalidError)) as caught:
        prepare(given, org_id=ORG, allowed_tables=CRM_TABLES, row_limit=10)
    assert expected in caught.value.message


def test_fixture_files_are_substantial():
    assert len(REWRITES) >= 20 and len(LIMITS) >= 8 and len(REFUSALS) >= 25


def test_rules_are_an_ordered_tuple_of_pure_functions():
    assert isinstance(RULES, tuple) and [r.__name__ for r in RULES] == [
        "reject_statements", "check_tables", "check_functions", "refuse_tenancy_column", "bound_values",
        "inject_org_predicate",
        "apply_row_limit",
    ]
    tree = parse_statement("SELECT o.id, (SELECT 1 FROM notes) FROM opportunities o")
    before = tree.sql()
    for rule in RULES:
        rule(tree, ctx=CTX)
    assert tree.sql() == before, "a rule changed its input tree"


@pytest.mark.parametrize(
    "module",
    ["context", "limits", "parse", "statements", "tenancy", "rewrite", "row_limit", "value_size"],
)
def test_docstring_examples_hold(module):
    failures, tried = doctest.testmod(importlib.import_module(f"app.gateway.{module}"))
    assert tried > 0 and failures == 0


@pytest.mark.parametrize("text", ["", "   \n\t", "-- only a comment", "/* only */ ;"])
def test_empty_input_is_invalid(text):
    with pytest.raises(SqlInvalidError):
        prepare(text, org_id=ORG, allowed_tables=CRM_TABLES, row_limit=10)


def test_oversized_input_is_refused_naming_the_setting():
    text = "SELECT 1 FROM contacts " + " " * 200
    assert check_size(text, max_sql_bytes=len(text)) == text
    with pytest.raises(SqlRejectedError, match="max_sql_bytes"):
        check_size(text + "x", max_sql_bytes=len(text))


def test_size_is_counted_in_bytes():
    with pytest.raises(SqlRejectedError):
        check_size("SELECT 'é'", max_sql_bytes=len("SELECT 'é'"))


@pytest.mark.parametrize("text", [b"SELECT 1", None, "SELECT 1\x00; DROP TABLE contacts"])
def test_non_text_and_nul_bytes_are_invalid(text):
    with pytest.raises(SqlInvalidError):
        check_size(text, max_sql_bytes=1000)


def test_unparsable_sql_is_invalid():
    with pytest.raises(SqlInvalidError, match="could not be parsed"):
        prepare("SELECT FROM WHERE (", org_id=ORG, allowed_tables=CRM_TABLES, row_limit=10)


def test_a_missing_org_is_refused_before_anything_else():
    from app.errors.database import MissingOrgError

    with pytest.raises(MissingOrgError):
        prepare("SELECT 1", org_id="", allowed_tables=CRM_TABLES, row_limit=10)


def test_allowlist_comes_from_the_caller():
    with pytest.raises(SqlRejectedError, match="table contacts is not allowed"):
        prepare("SELECT * FROM contacts", org_id=ORG, allowed_tables=["accounts"], row_limit=10)
    assert prepare("SELECT * FROM accounts", org_id=ORG, allowed_tables=["accounts"], row_limit=10)


SAMPLES = """count(*)|count(DISTINCT x)|sum(x)|avg(x)|min(x)|max(x)|bool_and(b)|bool_or(b)|every(b)
string_agg(s, ',' ORDER BY s)|array_agg(x ORDER BY x)|stddev(x)|stddev_pop(x)|variance(x)|var_pop(x)
corr(x, y)|covar_pop(x, y)|regr_slope(x, y)|json_agg(x)|jsonb_agg(x)|jsonb_object_agg(k, v)
mode() WITHIN GROUP (ORDER BY x)|percentile_cont(0.5) WITHIN GROUP (ORDER BY x)|bit_and(x)
row_number() OVER ()|rank() OVER (ORDER BY x)|ntile(4) OVER (ORDER BY x)|lag(x, 2, 0) OVER (ORDER BY x)
first_value(x) OVER (ORDER BY x)|nth_value(x, 2) OVER (ORDER BY x)|cume_dist() OVER (ORDER BY x)
lower(s)|upper(s)|initcap(s)|length(s)|char_length(s)|octet_length(s)|substr(s, 1, 2)|substring(s FROM 1 FOR 2)
position('a' IN s)|strpos(s, 'a')|trim(BOTH 'x' FROM s)|btrim(s)|ltrim(s)|rtrim(s)|replace(s, 'a', 'b')
concat(s, 'a')|concat_ws(',', s, t)|left(s, 2)|right(s, 2)|split_part(s, ',', 1)|starts_with(s, 'a')
reverse(s)|regexp_replace(s, 'a', 'b')|regexp_match(s, 'a')|regexp_split_to_array(s, ',')|to_char(d, 'YYYY')
format('%s', s)|md5(s)|translate(s, 'a', 'b')|ascii(s)|chr(65)|overlay(s PLACING 'x' FROM 1 FOR 2)
string_to_array(s, ',')|s LIKE 'a%'|s ILIKE 'a%'|s SIMILAR TO 'a%'|s ~ 'a'|s ~* 'a'|s !~ 'a'|s || t
coalesce(a, b)|nullif(a, b)|greatest(a, b)|least(a, b)|abs(x)|ceil(x)|ceiling(x)|floor(x)|round(x, 2)
trunc(x, 1)|sign(x)|sqrt(x)|cbrt(x)|power(x, 2)|exp(x)|ln(x)|log(x)|log(2, x)|log10(x)|mod(x, 2)|div(x, 2)
pi()|random()|width_bucket(x, 0, 10, 5)|x % 2|x ^ 2|degrees(x)|radians(x)|gcd(a, b)|factorial(5)
now()|current_date|current_timestamp|localtimestamp|date_trunc('month', d)|date_part('year', d)
extract(epoch FROM d)|age(d)|age(d, e)|make_date(2020, 1, 1)|make_interval(days => 1)
make_timestamp(2020, 1, 1, 0, 0, 0)|to_date(s, 'YYYY')|to_timestamp(s, 'YYYY')|to_timestamp(1)
date_bin('1 day', d, d)|justify_days(i)|clock_timestamp()|d AT TIME ZONE 'UTC'|interval '1 day'
INTERVAL '3' MONTH|date '2020-01-01'|timestamp '2020-01-01'|json_build_object('a', 1)|to_jsonb(x)
row_to_json(x)|j -> 'a'|j ->> 'a'|j #> '{a}'|j #>> '{a}'|j @> '{}'|j ? 'a'|jsonb_array_length(j)
array_length(a, 1)|cardinality(a)|array_to_string(a, ',')|array_position(a, 1)|array_append(a, 1)
array_cat(a, b)|ARRAY[1, 2]|a[1]|a[1:2]|1 = ANY(a)|1 = ALL(a)|a && b|num_nulls(a, b)|gen_random_uuid()
x IS DISTINCT FROM y|x IS NOT DISTINCT FROM y|x IS TRUE|x::int|CAST(x AS numeric(10, 2))|x::text[]
CASE WHEN x THEN 1 ELSE 2 END|CASE x WHEN 1 THEN 2 END|NOT x|-x|ROW(1, 2)|(x).y|x BETWEEN 1 AND 2""".replace("\n", "|").split("|")


@pytest.mark.parametrize("expression", SAMPLES)
def test_curated_function_passes_both_parsers(expression):
    """Every listed call survives sqlglot's regeneration with a name PostgreSQL's list allows."""
    # Aggregates that build one value from many rows are admitted over a bounded row source only.
    source = "(SELECT * FROM accounts LIMIT 20) AS a" if "_agg(" in expression else "accounts"
    prepare(f"SELECT {expression} FROM {source}", org_id=ORG, allowed_tables=CRM_TABLES, row_limit=10)


@pytest.mark.parametrize(
    "final_sql, message",
    [
        ("SELECT * FROM public.contacts LIMIT 11", "outside the org filter"),
        ("SELECT * FROM contacts LIMIT 11", "outside the org filter"),
        (f"SELECT * FROM ({guarded_select('contacts', OTHER).sql(dialect='postgres')}) AS c LIMIT 11",
         "outside the org filter"),
        ("SELECT * FROM (SELECT * FROM public.contacts WHERE contacts.org_id = "
         f"'{ORG}' OR true) AS c LIMIT 11", "outside the org filter"),
        (f"SELECT * FROM ({guarded_select('users', ORG).sql(dialect='postgres')}) AS u LIMIT 11",
         "outside the org filter"),
        (f"SELECT * FROM LATERAL ({guarded_select('notes', ORG).sql(dialect='postgres')}) AS n LIMIT 11",
         "outside the org filter"),
        ("SELECT * FROM (WITH x AS (SELECT 1) SELECT 1) AS a, x LIMIT 11", "relation x outside"),
        ("WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a LIMIT 11", "relation b outside"),
        ("SELECT pg_sleep(1) LIMIT 11", "call to pg_sleep"),
        ("SELECT 'x'::regclass LIMIT 11", "type regclass"),
        ("SELECT current_user LIMIT 11", "CURRENT_USER"),
        ("SELECT 1 LIMIT 12", "row limit"),
        ("SELECT 1", "row limit"),
        ("SELECT 1 LIMIT 11; SELECT 2 LIMIT 11", "2 statements"),
        ("SELECT * INTO t FROM (SELECT 1) AS x LIMIT 11", "SELECT INTO"),
        ("SELECT xmlelement(name x) LIMIT 11", "XmlExpr"),
        ("SELECT * FROM pg_ls_dir('.') LIMIT 11", "call to pg_ls_dir"),
    ],
)
def test_postgres_parser_cross_check_refuses_unguarded_sql(final_sql, message):
    with pytest.raises(SqlRejectedError, match=message):
        check_final_sql(final_sql, ctx=CTX)


def test_postgres_parser_cross_check_accepts_the_guard_and_cte_references():
    guard = guarded_select("contacts", ORG).sql(dialect="postgres")
    sql_text = f"WITH RECURSIVE r AS (SELECT * FROM ({guard}) AS c UNION ALL SELECT * FROM r) SELECT * FROM r LIMIT 11"
    check_final_sql(sql_text, ctx=CTX)


@pytest.mark.parametrize(
    "original, final",
    [
        ("SELECT data FROM contacts", "SELECT u & \"d\\0061ta\" FROM contacts LIMIT 11"),
        ("SELECT 1 FROM contacts", "SELECT 1 FROM contacts, accounts LIMIT 11"),
        ("SELECT 'Mon' FROM contacts", "SELECT 'Tue' FROM contacts LIMIT 11"),
        ("SELECT 1 FROM contacts WHERE EXISTS (SELECT 1)", "SELECT 1 FROM contacts LIMIT 11"),
    ],
)
def test_parsers_disagreeing_refuses(original, final):
    with pytest.raises(SqlRejectedError, match="read this query differently"):
        compare(single_select(pg_parse(original), what="query"), single_select(pg_parse(final), what="q"), ctx=CTX)


def test_postgres_reading_several_statements_is_refused():
    with pytest.raises(SqlRejectedError, match="reads 2 statements"):
        single_select(pg_parse("SELECT 1; SELECT 2"), what="query")


@pytest.mark.parametrize("error_class, code", [(SqlRejectedError, "sql_rejected"), (SqlInvalidError, "sql_invalid")])
def test_error_classes_carry_status_and_code(error_class, code):
    assert error_class.status == 400 and error_class.code == code


def test_cross_check_refuses_what_the_known_bad_injector_produces():
    """Filtering only the outer table leaves the scalar subquery unguarded: PostgreSQL's tree shows it."""
    tree = parse_statement("SELECT o.id, (SELECT sum(amount) FROM opportunities) FROM opportunities o")
    naive = tree.where(f"o.org_id = '{ORG}'", dialect="postgres").limit(11)
    with pytest.raises(SqlRejectedError, match="relation opportunities outside the org filter"):
        check_final_sql(naive.sql(dialect="postgres"), ctx=CTX)


def test_org_settings_move_limits_only_within_platform_bounds():
    from app.errors import ValidationError
    from app.query_settings import QueryBounds, org_query_settings

    bounds = QueryBounds(row_limit_max=5000, statement_timeout_ms_min=100, statement_timeout_ms_max=20_000)
    raised = org_query_settings({"query.row_limit": 10**9, "query.statement_timeout_ms": 10**9}, bounds=bounds)
    assert (raised.row_limit, raised.statement_timeout_ms) == (5000, 20_000)
    lowered = org_query_settings({"query.row_limit": 10, "query.statement_timeout_ms": 1}, bounds=bounds)
    assert (lowered.row_limit, lowered.statement_timeout_ms) == (10, 100)
    assert org_query_settings(None) == org_query_settings({})
    for bad in ("10", True, 0, -5, 1.5):
        with pytest.raises(ValidationError, match="query.row_limit"):
            org_query_settings({"query.row_limit": bad})


def test_fast_child_walk_sees_every_node_the_generic_walk_sees():
    """crosscheck.children skips scalar attributes for speed; it must never skip a node."""
    from pglast import ast

    from app.gateway.crosscheck import children
    from tests.gateway_corpus import load_corpus

    def generic(node):
        for name in node:
            value = getattr(node, name)
            stack = [value]
            while stack:
                item = stack.pop()
                if isinstance(item, ast.Node):
                    yield item
                elif isinstance(item, tuple):
                    stack.extend(item)

    def count(node, walk):
        return 1 + sum(count(child, walk) for child in walk(node))

    texts = [e.sql for e in load_corpus("analytic.sql")] + [e.sql for e in load_corpus("attacks.sql")]
    checked = 0
    for text in texts:
        try:
            statements = pg_parse(text)
        except SqlInvalidError:
            continue
        for raw in statements:
            assert count(raw, children) == count(raw, generic), text
            checked += 1
    assert checked > 300


def test_parsers_are_the_pinned_versions():
    """A bump of either parser is deliberate: pyproject.toml and this check change together,
    and the whole corpus (differential, attacks, properties) runs against the new version."""
    import re
    from importlib.metadata import version
    from pathlib import Path

    pins = Path(__file__).resolve().parents[1].joinpath("pyproject.toml").read_text()
    for package in ("sqlglot", "pglast"):
        pinned = re.search(rf'"{package}==([^"]+)"', pins)
        assert pinned and version(package) == pinned.group(1), f"{package} is not the pinned version"
    assert version("pglast").startswith("5."), "pglast 5 embeds PostgreSQL 15's parser, the server's"


@pytest.mark.parametrize("sql_text", [
    "SELECT first_name || ' ' || last_name, concat_ws(', ', city, region) FROM contacts, sites",
    "WITH full_names AS (SELECT first_name || ' ' || last_name AS name FROM contacts) SELECT upper(name) FROM full_names",
    "SELECT string_agg(left(body, 200), ' | ' ORDER BY created_at) FROM (SELECT body, created_at FROM notes LIMIT 100) AS n",
    "SELECT account_id, array_agg(first_name) FROM (SELECT account_id, first_name FROM contacts LIMIT 1000) AS c GROUP BY 1",
    "SELECT format('%-20s|%10s', name, stage), replace(email, '@', ' at ') FROM opportunities, contacts",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) SELECT n FROM r",
])
def test_value_builders_within_the_bound_are_admitted(sql_text):
    """The bound refuses only what can grow past ATLAS_QUERY_MAX_VALUE_BYTES; everyday concatenation passes."""
    prepare(sql_text, org_id=ORG, allowed_tables=CRM_TABLES, row_limit=10)


def test_the_value_bound_is_a_platform_setting():
    sql_text = "SELECT string_agg(left(body, 1000), '') FROM (SELECT body FROM notes LIMIT 100) AS n"
    prepare(sql_text, org_id=ORG, allowed_tables=CRM_TABLES, row_limit=10)
    with pytest.raises(SqlRejectedError, match="limit is 0.1 MB"):
        prepare(sql_text, org_id=ORG, allowed_tables=CRM_TABLES, row_limit=10, max_value_bytes=100_000)
