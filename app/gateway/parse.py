"""Rule 2: parse with sqlglot's PostgreSQL dialect into exactly one statement.

Only SQL regenerated from this tree is ever executed; the original text is kept
solely for the cross-check against PostgreSQL's own parser.
"""
from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from app.errors import SqlInvalidError, SqlRejectedError
from app.gateway.context import DIALECT


def parse_statement(sql_text: str) -> exp.Expression:
    """The single statement in sql_text.

    Raises SqlInvalidError when sqlglot cannot parse it, SqlRejectedError when it
    holds more than one statement.

    >>> parse_statement("SELECT 1;").sql()
    'SELECT 1'
    """
    try:
        statements = sqlglot.parse(sql_text, read=DIALECT)
    except (ParseError, TokenError) as exc:
        raise SqlInvalidError(f"sql could not be parsed: {_first_line(exc)}") from None
    found = [s for s in statements if s is not None and not isinstance(s, exp.Semicolon)]
    if not found:
        raise SqlInvalidError("sql holds no statement: send one SELECT statement")
    if len(found) > 1:
        raise SqlRejectedError(
            f"sql holds {len(found)} statements; exactly one SELECT statement is allowed"
        )
    return found[0]


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
