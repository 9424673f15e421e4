"""Rule 9: run the prepared SQL under lock 2.

One pipelined round trip on an agent-role connection (SELECT on the allowed
tables only, no set_config, cannot SET ROLE):

    BEGIN READ ONLY
    SET LOCAL app.org_id = '<org>'          -- RLS shows only the org's rows
    SET LOCAL statement_timeout = <ms>
    SET LOCAL work_mem = <kB>
    SET LOCAL max_parallel_workers_per_gather = 0   -- one core per query
    <the prepared SQL in the byte-budget envelope>  -- extended protocol: one statement, ever
    ROLLBACK                                -- nothing to keep; the settings die here

psycopg sends a query with the simple protocol (which runs every statement in
the string) when it has no parameters, even with an empty parameter list; in
pipeline mode it always uses the extended protocol, whose Parse message accepts
exactly one statement. That is why the query runs inside a pipeline.
"""
from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from app.db.refusals import agent_error
from app.db.scoped_settings import scoped_settings
from app.errors.configuration import ConfigurationError
from app.gateway.result import PreparedQuery, QueryResult
from app.gateway.result_budget import budgeted_sql
from app.query_settings import QuerySettings


def execute(conn: psycopg.Connection, query: PreparedQuery, *, settings: QuerySettings) -> QueryResult:
    """Run one prepared query on an agent connection in autocommit mode.

    Rows stop at settings.result_max_bytes (measured by PostgreSQL, see
    result_budget) or at the row limit; either way `truncated` says so and why.
    Raises QueryTimeoutError past the statement timeout, SqlRejectedError for a
    privilege refusal or a resource limit, SqlInvalidError for errors in the
    query itself (an unknown column, a bad cast): app/db/refusals.py maps
    them by class. An error may surface at any step of the pipeline, so all of
    them are mapped. Connection failures propagate for the caller to map (503).
    """
    if not conn.autocommit:
        raise ConfigurationError("the agent connection must be in autocommit mode")
    statement = budgeted_sql(query.sql, max_bytes=settings.result_max_bytes)
    try:
        with conn.pipeline() as pipeline:
            conn.execute("BEGIN READ ONLY")
            for setting in session_settings(query, settings=settings):
                conn.execute(setting)
            cursor = conn.cursor()
            cursor.execute(statement)
            conn.execute("ROLLBACK")
            pipeline.sync()
            fetched = cursor.fetchall()
    except psycopg.Error as exc:
        _end_transaction(conn)
        mapped = agent_error(exc, statement_timeout_ms=settings.statement_timeout_ms)
        if mapped is exc:
            raise
        raise mapped from exc
    columns = tuple({"name": c.name, "type": c.type_display} for c in (cursor.description or ())[:-2])
    return _bounded(fetched, columns, row_limit=query.row_limit)


def _bounded(fetched: list[tuple[Any, ...]], columns: tuple[dict[str, str], ...], *, row_limit: int) -> QueryResult:
    """Strip the envelope's columns; stop at the byte budget's marker row or the row limit."""
    rows: list[tuple[Any, ...]] = []
    byte_size = 0
    reason = None
    for row in fetched:
        if not row[-2]:
            reason = "result_bytes"
            break
        if len(rows) == row_limit:
            reason = "row_limit"
            break
        rows.append(tuple(row[:-2]))
        byte_size += int(row[-1])
    return QueryResult(columns=columns, rows=tuple(rows), truncated=reason is not None,
                       truncated_reason=reason, byte_size=byte_size)


def _end_transaction(conn: psycopg.Connection) -> None:
    """Leave the connection idle after a failed pipeline; a broken one is the pool's to discard."""
    try:
        conn.rollback()
    except psycopg.Error:
        pass


def session_settings(query: PreparedQuery, *, settings: QuerySettings) -> list[sql.Composed]:
    """The SET LOCAL statements: the org for RLS, then the query's limits (app/db/scoped_settings.py)."""
    org = {"app.org_id": str(query.org_id)} if query.org_predicate else {}
    return scoped_settings({
        **org,
        "statement_timeout": int(settings.statement_timeout_ms),
        "work_mem": int(settings.work_mem_kb),
        # One core per query: the org's in-flight limit then bounds the CPU its agent work can take.
        "max_parallel_workers_per_gather": 0,
    })
