"""Rule 9: run the prepared SQL under lock 2.

One pipelined round trip on an agent-role connection (SELECT on the allowed
tables only, no set_config, cannot SET ROLE):

    BEGIN READ ONLY
    SET LOCAL app.org_id = '<org>'          -- RLS shows only the org's rows
    SET LOCAL statement_timeout = <ms>
    SET LOCAL work_mem = <kB>
    <the prepared SQL in the byte-budget envelope>  -- extended protocol: one statement, ever
    ROLLBACK                                -- nothing to keep; the settings die here

psycopg sends a query with the simple protocol (which runs every statement in
the string) when it has no parameters, even with an empty parameter list; in
pipeline mode it always uses the extended protocol, whose Parse message accepts
exactly one statement. That is why the query runs inside a pipeline.
"""
from __future__ import annotations

import psycopg
from psycopg import sql

from app.errors import ConfigurationError, SqlInvalidError, SqlRejectedError
from app.gateway.result import PreparedQuery, QueryResult
from app.gateway.result_budget import budgeted_sql
from app.query_settings import QuerySettings


def execute(conn: psycopg.Connection, query: PreparedQuery, *, settings: QuerySettings) -> QueryResult:
    """Run one prepared query on an agent connection in autocommit mode.

    Rows stop at settings.result_max_bytes (measured by PostgreSQL, see
    result_budget) or at the row limit; either way `truncated` says so and why.
    Raises SqlRejectedError for a timeout, a privilege refusal or a resource
    limit, SqlInvalidError for errors in the query itself (an unknown column, a
    bad cast); an error may surface at any step of the pipeline, so all of them
    are mapped. Connection failures propagate for the caller to map (503).
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
        mapped = map_database_error(exc, settings=settings)
        if mapped is exc:
            raise
        raise mapped from exc
    columns = tuple({"name": c.name, "type": c.type_display} for c in (cursor.description or ())[:-2])
    return _bounded(fetched, columns, row_limit=query.row_limit)


def _bounded(fetched: list, columns: tuple[dict[str, str], ...], *, row_limit: int) -> QueryResult:
    """Strip the envelope's columns; stop at the byte budget's marker row or the row limit."""
    rows: list[tuple] = []
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
    """The SET LOCAL statements (SET takes no bind parameters; values are quoted literals)."""
    values = (
        ("app.org_id", str(query.org_id)),
        ("statement_timeout", int(settings.statement_timeout_ms)),
        ("work_mem", int(settings.work_mem_kb)),
    )
    return [
        sql.SQL("SET LOCAL {} = {}").format(sql.SQL(name), sql.Literal(value))
        for name, value in values
    ]


def map_database_error(exc: psycopg.Error, *, settings: QuerySettings) -> Exception:
    """Agent-facing errors by class, never by message text."""
    diag = (exc.diag.message_primary or str(exc)).strip() if hasattr(exc, "diag") else str(exc)
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return SqlRejectedError(
            f"the query ran longer than {settings.statement_timeout_ms} ms "
            "(query.statement_timeout_ms); narrow it or aggregate more"
        )
    if isinstance(exc, (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)):
        return SqlRejectedError(f"the database refused the query: {diag}")
    if isinstance(exc, (psycopg.errors.ProgramLimitExceeded, psycopg.errors.ConfigurationLimitExceeded)):
        return SqlRejectedError(f"the query exceeds a database limit: {diag}")
    if isinstance(exc, (psycopg.DataError, psycopg.ProgrammingError, psycopg.NotSupportedError,
                        psycopg.IntegrityError, psycopg.InternalError)):
        return SqlInvalidError(f"the query failed: {diag}")
    return exc
