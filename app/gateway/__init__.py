"""The agent SQL gateway: lock 1 of two (RLS is lock 2; each must hold alone).

    check_size -> parse_statement -> RULES -> regenerate (no comments)
               -> PostgreSQL's parser re-reads both texts -> execute under RLS

Each rule is a function `rule(tree, *, ctx, copy=True) -> tree`, applied in
order like sqlglot's optimizer RULES: checks return the tree or raise, rewrites
return a new tree and leave their input alone unless told copy=False (prepare
owns the freshly parsed tree, so it skips the deep copies). `prepare` does
everything that needs no database; `run_query` adds the cache seam and
execution, so the HTTP endpoint and the CLI are thin wrappers around it.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from functools import lru_cache

import psycopg
from sqlglot import exp

from app.db import as_org_id
from app.gateway import crosscheck, skeleton
from app.gateway.context import DIALECT, RuleContext
from app.gateway.execute import execute
from app.gateway.functions import check_functions
from app.gateway.limits import check_size
from app.gateway.parse import parse_statement
from app.gateway.result import CacheKey, PreparedQuery, QueryResult, ResultCache
from app.gateway.rewrite import inject_org_predicate
from app.gateway.row_limit import apply_row_limit
from app.gateway.statements import reject_statements
from app.gateway.tables import check_tables
from app.gateway.tenancy import refuse_tenancy_column
from app.gateway.value_size import bound_values
from app.query_settings import QuerySettings

Rule = Callable[..., exp.Expression]
RULES: tuple[Rule, ...] = (
    reject_statements,
    check_tables,
    check_functions,
    refuse_tenancy_column,
    bound_values,
    inject_org_predicate,
    apply_row_limit,
)

__all__ = [
    "RULES", "CacheKey", "PreparedQuery", "QueryResult", "ResultCache", "prepare", "prepare_cached",
    "run_query",
]


def prepare(
    sql_text: str,
    *,
    org_id: uuid.UUID | str,
    allowed_tables: Iterable[str],
    row_limit: int,
    max_sql_bytes: int = QuerySettings.max_sql_bytes,
    org_predicate: bool = True,
    max_value_bytes: int = QuerySettings.max_value_bytes,
) -> PreparedQuery:
    """Validate, rewrite and cross-check agent SQL for one org; touches no database.

    `PreparedQuery.sql` is the final SQL; `tables` are the tables PostgreSQL's
    parser found guarded in it.

    Raises SqlInvalidError (unparsable, empty) or SqlRejectedError (anything not
    allowed), each naming the offending construct; MissingOrgError without an org.
    With org_predicate=False (an org's own datasource) tables are not filtered by org;
    every other rule holds.
    """
    ctx = RuleContext(
        org_id=as_org_id(org_id), allowed_tables=frozenset(allowed_tables), row_limit=row_limit,
        org_predicate=org_predicate, max_value_bytes=max_value_bytes,
    )
    text = check_size(sql_text, max_sql_bytes=max_sql_bytes)
    tree = parse_statement(text)
    for rule in RULES:
        tree = rule(tree, ctx=ctx, copy=False)  # the parsed tree is ours alone: no copies
    final_sql = tree.sql(dialect=DIALECT, comments=False, copy=False)
    original = crosscheck.single_select(crosscheck.pg_parse(text), what="query")
    final, tables = crosscheck.check_final_sql(final_sql, ctx=ctx)
    skeleton.compare(original, final, ctx=ctx)
    return PreparedQuery(sql=final_sql, org_id=ctx.org_id, row_limit=row_limit, tables=tables,
                         org_predicate=org_predicate)


@lru_cache(maxsize=2048)
def prepare_cached(
    sql_text: str, org_id: uuid.UUID, allowed_tables: frozenset[str], row_limit: int, max_sql_bytes: int,
    org_predicate: bool = True, max_value_bytes: int = QuerySettings.max_value_bytes,
) -> PreparedQuery:
    """`prepare`, remembered: it is a pure function of exactly these arguments.

    Parsing, rewriting and cross-checking cost milliseconds (scripts/bench_gateway.py);
    an agent repeats its queries, and a result-cache hit should not pay them
    again. Refusals raise and are never remembered.
    """
    return prepare(sql_text, org_id=org_id, allowed_tables=allowed_tables,
                   row_limit=row_limit, max_sql_bytes=max_sql_bytes, org_predicate=org_predicate,
                   max_value_bytes=max_value_bytes)


DEFAULT_SETTINGS = QuerySettings()  # frozen: safe to share as a default


def run_query(
    sql_text: str,
    *,
    org_id: uuid.UUID | str,
    connect: Callable[[], AbstractContextManager[psycopg.Connection]],
    settings: QuerySettings = DEFAULT_SETTINGS,
    cache: ResultCache | None = None,
    connection_id: str = "default",
    claims: tuple[tuple[str, str], ...] = (),
    config_version: str = "",
    org_predicate: bool = True,
) -> QueryResult:
    """Prepare, then serve from the cache or execute on a connection from `connect`.

    `connect()` yields an autocommit connection as the agent role (a pool's
    `connection()` or `psycopg.connect(url, autocommit=True)`), or, with
    org_predicate=False, as the read-only role of an org's own datasource.
    """
    prepared = prepare_cached(
        sql_text,
        as_org_id(org_id),
        frozenset(settings.allowed_tables),
        settings.row_limit,
        settings.max_sql_bytes,
        org_predicate,
        settings.max_value_bytes,
    )
    key = CacheKey(
        sql=prepared.sql, org_id=str(prepared.org_id), connection_id=connection_id,
        claims=claims, config_version=config_version,
    )
    if cache is not None:
        hit = cache.get(key)
        if hit is not None:
            return hit.as_cached()
    with connect() as conn:
        result = execute(conn, prepared, settings=settings)
    if cache is not None:
        cache.put(key, result)
    return result
