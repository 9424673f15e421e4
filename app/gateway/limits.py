"""Rule 1: refuse empty and oversized input before any parser sees it."""
from __future__ import annotations

from app.errors.query import SqlInvalidError, SqlRejectedError


def check_size(sql_text: object, *, max_sql_bytes: int) -> str:
    """The text itself, or an error: empty, not text, NUL bytes, or over max_sql_bytes.

    >>> check_size("SELECT 1", max_sql_bytes=100)
    'SELECT 1'
    """
    if not isinstance(sql_text, str):
        raise SqlInvalidError("sql must be a string of SQL text")
    if not sql_text.strip():
        raise SqlInvalidError("sql is empty: send one SELECT statement")
    if "\x00" in sql_text:
        raise SqlInvalidError("sql contains a NUL character, which PostgreSQL cannot accept")
    size = len(sql_text.encode("utf-8", errors="surrogatepass"))
    if size > max_sql_bytes:
        raise SqlRejectedError(
            f"sql is {size} bytes; the limit is {max_sql_bytes} (query.max_sql_bytes)"
        )
    return sql_text
