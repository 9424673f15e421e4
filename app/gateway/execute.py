"""Rule 9: run the prepared SQL under lock 2.

One pipelined round trip on an agent-role connection (SELECT on the allowed
tables only, no set_config, cannot SET ROLE):

    BEGIN READ ONLY
    SET LOCAL app.org_id = '<org>'          -- RLS shows only the org's rows
    SET LOCAL statement_timeout = <ms>
    SET LOCAL work_mem = <kB>
    <the prepared SQL>                      -- extended protocol: one statement, ever
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
from app.query_settings import QuerySettings


def execute(conn: psycopg.Connection, query: PreparedQuery, *, settings: QuerySettings) -> QueryResult:
    """Run one prepared query on an agent connection in autocommit mode.

    Raises SqlRejectedError for a timeout or a privilege refusal, SqlInvalidError
    for errors in the query itself (an unknown column, a bad cast); other
    database errors propagate for the caller to map.
    """
    if not conn.autocommit:
        raise ConfigurationError("the agent connection must be in autocommit mode")
    with conn.pipeline() as pipeline:
        conn.execute("BEGIN READ ONLY")
        for statement in session_settings(query, settings=settings):
            conn.execute(statement)
        cursor = conn.cursor()
        cursor.execute(query.sql)  # type: ignore[arg-type]  # checked SQL, never user text
        conn.execute("ROLLBACK")
        try:
            pipeline.sync()
            rows = cursor.fetchall()
        except psycopg.Error as exc:
            conn.rollback()
            mapped = map_database_error(exc, settings=settings)
            if mapped is exc:
                raise
            raise mapped from exc
    columns = tuple({"name": c.name, "type": c.type_display} for c in cursor.description or ())
    truncated = len(rows) > query.row_limit
    return QueryResult(columns=columns, rows=tuple(rows[: query.row_limit]), truncated=truncated)


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
    if isinstance(exc, psycopg.errors.ProgramLimitExceeded):
        return SqlRejectedError(f"the query exceeds a database limit: {diag}")
    if isinstance(exc, (psycopg.errors.DataError, psycopg.errors.ProgrammingError)):
        return SqlInvalidError(f"the query failed: {diag}")
    return exc
