"""Rule 2: parse with sqlglot's PostgreSQL dialect into exactly one statement.

Only SQL regenerated from this tree is ever executed; the original text is kept
solely for the cross-check against PostgreSQL's own parser.

sqlglot's parser, its generator and our rules recurse once or more per level
of nesting, so input nesting is bounded before and after parsing: on the
tokens (parentheses, brackets, CASE ... END, runs of NOT), which bounds the
parser's recursion, then on the tree (where a chain of 3,000 UNIONs, ORs or
`->` operators is 3,000 levels deep), which bounds every later step. A too
deep query is a client error naming the limit, never a RecursionError.
"""
from __future__ import annotations

from collections.abc import Iterable

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import Token, TokenType

from app.errors.query import SqlInvalidError, SqlRejectedError
from app.gateway.context import DIALECT

# Parentheses, brackets, CASE ... END and runs of NOT, counted on the tokens.
MAX_NESTING = 32
# sqlglot backtracks on nested ARRAY[...]: its parse time doubles per level past about ten.
MAX_BRACKET_NESTING = 8
# Levels of the parsed tree; a chain of n UNIONs or operators is n levels deep.
MAX_TREE_DEPTH = 200
NESTING_HINT = (f"at most {MAX_NESTING} levels of parentheses, subqueries, CASE and NOT, "
                f"{MAX_BRACKET_NESTING} of brackets, and {MAX_TREE_DEPTH} levels of expression "
                "(each UNION or operator in a chain is a level)")

_OPENERS = {TokenType.L_PAREN: TokenType.R_PAREN, TokenType.L_BRACKET: TokenType.R_BRACKET,
            TokenType.CASE: TokenType.END}
_CLOSERS = frozenset(_OPENERS.values())


def parse_statement(sql_text: str) -> exp.Expression:
    """The single statement in sql_text.

    Raises SqlInvalidError when sqlglot cannot parse it, SqlRejectedError when it
    holds more than one statement or nests deeper than the limits above.

    >>> parse_statement("SELECT 1;").sql()
    'SELECT 1'
    """
    dialect = sqlglot.Dialect.get_or_raise(DIALECT)
    try:
        tokens = dialect.tokenize(sql_text)
        check_token_nesting(tokens)
        statements = dialect.parser().parse(tokens, sql_text)
    except (ParseError, TokenError) as exc:
        raise SqlInvalidError(f"sql could not be parsed: {_first_line(exc)}") from None
    except RecursionError:
        raise too_deep() from None
    found = [s for s in statements if s is not None and not isinstance(s, exp.Semicolon)]
    if not found:
        raise SqlInvalidError("sql holds no statement: send one SELECT statement")
    if len(found) > 1:
        raise SqlRejectedError(
            f"sql holds {len(found)} statements; exactly one SELECT statement is allowed"
        )
    statement = found[0]
    assert isinstance(statement, exp.Expression)  # every parsed node is; exp.Expr is sqlglot's typing base
    check_tree_depth(statement)
    return statement


def check_token_nesting(tokens: Iterable[Token]) -> None:
    """Refuse nesting that would make the parser recurse too deeply (or, for brackets, too long).

    >>> check_token_nesting(sqlglot.Dialect.get_or_raise("postgres").tokenize("SELECT ((1))"))
    """
    open_kinds: list[TokenType] = []
    brackets = nots = 0
    for token in tokens:
        kind = token.token_type
        nots = nots + 1 if kind == TokenType.NOT else 0
        if kind in _OPENERS:
            open_kinds.append(kind)
            brackets += kind == TokenType.L_BRACKET
        elif kind in _CLOSERS and open_kinds and _OPENERS[open_kinds[-1]] == kind:
            brackets -= open_kinds.pop() == TokenType.L_BRACKET
        if len(open_kinds) + nots > MAX_NESTING or brackets > MAX_BRACKET_NESTING:
            raise too_deep(line=token.line)


def check_tree_depth(tree: exp.Expr) -> None:
    """Refuse a tree deeper than MAX_TREE_DEPTH, measured without recursing."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            raise too_deep()
        stack.extend((child, depth + 1) for child in node.iter_expressions())


def too_deep(*, line: int | None = None) -> SqlRejectedError:
    """The refusal for input nested past the gateway's limits; it names them."""
    where = f" (line {line})" if line is not None else ""
    return SqlRejectedError(f"sql nests too deeply{where}: the gateway accepts {NESTING_HINT}; "
                            "simplify the query or split it")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
