"""Statement texts rendered once per shape, not once per request.

Composing a hot read's statement with psycopg.sql and rendering it took about a
tenth of the request's Python time. The shapes are few (an entity, its sort and
direction, the names of its filters, the columns of an insert), so each text is
rendered once, without a connection (identifiers and placeholders only: nothing
in them depends on the connection), and reused by every later request. Values
never enter a key or a text; they travel as parameters.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable

from psycopg import sql

MAX_SHAPES = 4096  # past this many shapes (filter-name orders add up), texts are rendered but not kept

_texts: dict[Hashable, str] = {}


def rendered(key: Hashable, build: Callable[[], sql.Composable]) -> str:
    """The text of the statement `build` composes, rendered the first time `key` is seen."""
    text = _texts.get(key)
    if text is None:
        text = build().as_string(None)
        if len(_texts) < MAX_SHAPES:
            _texts[key] = text
    return text


def shape(fragment: sql.Composable) -> str:
    """A fixed fragment (an org predicate) as part of a key."""
    return fragment.as_string(None)
