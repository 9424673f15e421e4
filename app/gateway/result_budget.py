"""The byte budget of one agent result, enforced by PostgreSQL before rows are sent.

libpq receives a whole row at once, so a check in Python cannot bound a 50 MB
row: by the time it could measure the row, the worker holds it. The checked
query is therefore wrapped in a fixed envelope that measures each row as text
(`octet_length(row::text)`, what the client receives in the text protocol),
keeps a running sum in the order the query produced the rows, and sends:

    every row whose running sum stays within the budget, then
    at most one more row, all NULL, with atlas_fits = false: "stopped here".

Each row carries two trailing columns, atlas_fits and atlas_bytes, which
`execute` strips. The envelope is constant text around the checked SQL (the
cross-checked, regenerated statement), composed with psycopg.sql; it refers to
the query's whole row as `atlas_row`, so a query that names that identifier
anywhere could shadow it with a column and is refused instead.
"""
from __future__ import annotations

from psycopg import sql

from app.errors.query import SqlRejectedError

RESERVED_NAME = "atlas_row"

# A CTE, not a derived table: PostgreSQL inlines it all the same (referenced once,
# no side effects), and a data-modifying statement that got this far still
# reaches the database, whose read-only transaction and grants refuse it (lock 2).
_ENVELOPE = sql.SQL(
    "WITH atlas_row AS ({query})"
    " SELECT (kept.atlas_row).*, measured.atlas_fits, measured.atlas_bytes"
    " FROM (SELECT running.atlas_row, running.atlas_bytes,"
    " running.atlas_total <= {budget} AS atlas_fits,"
    " running.atlas_total - running.atlas_bytes AS atlas_before"
    " FROM (SELECT sized.atlas_row, sized.atlas_bytes,"
    " sum(sized.atlas_bytes) OVER (ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS atlas_total"
    " FROM (SELECT atlas_row, octet_length(atlas_row::text)::bigint AS atlas_bytes"
    " FROM atlas_row) AS sized) AS running) AS measured"
    " LEFT JOIN LATERAL (SELECT measured.atlas_row WHERE measured.atlas_fits) AS kept ON true"
    " WHERE measured.atlas_before <= {budget}"
)


def budgeted_sql(query_sql: str, *, max_bytes: int) -> sql.Composed:
    """The checked query inside the byte-budget envelope. Raises SqlRejectedError on the reserved name."""
    if RESERVED_NAME in query_sql.lower():
        raise SqlRejectedError(f"the identifier {RESERVED_NAME} is reserved by the gateway; rename it")
    return _ENVELOPE.format(query=sql.SQL(query_sql), budget=sql.Literal(int(max_bytes)))
