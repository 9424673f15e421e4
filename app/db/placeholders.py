"""psycopg's placeholders (%s, %(name)s, %%) as PostgreSQL's $n, for statements app/db/wire.py sends itself."""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

_PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?s|%%")


def to_positional(query: str, params: Sequence[Any] | Mapping[str, Any] | None) -> tuple[bytes, list[Any]]:
    """psycopg placeholders (%s, %(name)s, %%) to PostgreSQL's $n, with the values in order."""
    command, slots = _template(query)
    if params is None or isinstance(params, str):
        params_seq: Sequence[Any] | None = None
    else:
        params_seq = params if not isinstance(params, Mapping) else None
    if any(isinstance(slot, int) for slot in slots):
        if params_seq is None:
            raise TypeError("query uses %s but the parameters are not a sequence")
        if len(params_seq) != len(slots):
            raise TypeError(f"the query has {len(slots)} placeholders for {len(params_seq)} parameters")
        return command, list(params_seq)
    if slots:
        if not isinstance(params, Mapping):
            raise TypeError("query uses %(name)s but the parameters are not a mapping")
        return command, [params[name] for name in slots if isinstance(name, str)]  # _template refuses a mix
    if params_seq:
        raise TypeError("the query has no placeholders but parameters were given")
    return command, []


@lru_cache(maxsize=1024)
def _template(query: str) -> tuple[bytes, tuple[int | str, ...]]:
    """The $n text of a query and what each $n takes (an index, or a name); cached per text."""
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
    return text.encode(), tuple(slots)
