"""psycopg's placeholders (%s, %(name)s, %%) as PostgreSQL's $n, for statements app/db/wire.py sends itself."""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

_PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?s|%%")


def to_positional(query: str, params: Sequence[Any] | Mapping[str, Any] | None) -> tuple[bytes, list[Any]]:
    """psycopg placeholders (%s, %(name)s, %%) to PostgreSQL's $n, with the values in order.

    On every read of the door (app/db/wire.py): the common types (tuple, list, dict) are told
    apart by `type`, before the slower isinstance checks against the abstract classes.
    """
    command, slots, named = _template(query)
    if not slots:
        if params and type(params) is not dict and not isinstance(params, (str, Mapping)):
            raise TypeError("the query has no placeholders but parameters were given")
        return command, []
    if named:
        if type(params) is not dict and not isinstance(params, Mapping):
            raise TypeError("query uses %(name)s but the parameters are not a mapping")
        return command, [params[name] for name in slots]  # type: ignore[index]  # a Mapping, checked
    if type(params) not in (tuple, list) and (params is None or isinstance(params, (str, Mapping))):
        raise TypeError("query uses %s but the parameters are not a sequence")
    assert params is not None
    if len(params) != len(slots):
        raise TypeError(f"the query has {len(slots)} placeholders for {len(params)} parameters")
    return command, list(params)


@lru_cache(maxsize=1024)
def _template(query: str) -> tuple[bytes, tuple[int | str, ...], bool]:
    """The $n text of a query, what each $n takes (an index, or a name), and whether they are names;
    cached per text."""
    slots: list[int | str] = []
    names: dict[str, int] = {}

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "%%":
            return "%"
        name = match.group(1)
        if name is None:
            slots.append(len(slots))
            return f"${len(slots)}"
        if name not in names:
            slots.append(name)
            names[name] = len(slots)
        return f"${names[name]}"

    text = _PLACEHOLDER.sub(replace, query)
    if any(isinstance(s, int) for s in slots) and any(isinstance(s, str) for s in slots):
        raise TypeError("a query cannot mix %s and %(name)s placeholders")
    return text.encode(), tuple(slots), any(isinstance(s, str) for s in slots)
