"""Request JSON, bounded where it is decoded: every reader of a body gets a checked value.

Flask decodes request bodies through the app's JSON provider, whoever asks
(`json_body`, the org guard, the input hook), so the checks live in its
`loads`: nesting past MAX_JSON_DEPTH (Python's decoder recurses, and so does
everything that walks the value after it), NaN and Infinity (not JSON), and
text PostgreSQL cannot store (NUL) or UTF-8 cannot encode (a lone surrogate
such as "\\ud800", which JSON's escapes allow). Each is a 400 naming the
problem, raised as a ValidationError so that `get_json(silent=True)` cannot
swallow it. Plain syntax errors stay ValueErrors: readers that need a body
refuse them, the others ignore a body they do not read.
"""
from __future__ import annotations

import json
import re
from typing import Any, NoReturn

from flask.json.provider import DefaultJSONProvider

from app.errors import ValidationError

MAX_JSON_DEPTH = 32
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class CheckedJSONProvider(DefaultJSONProvider):
    """Flask's provider, with `loads` refusing what no endpoint can use."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = json.loads(s, parse_constant=_refuse_constant, **kwargs)
        except RecursionError:
            _too_deep()
        check_json_value(value)
        return value


def check_json_value(value: Any) -> None:
    """Raise ValidationError for nesting past MAX_JSON_DEPTH, NUL or a lone surrogate; no recursion."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                _too_deep()
            if isinstance(item, dict):
                for key, inner in item.items():
                    _check_text(key)
                    stack.append((inner, depth + 1))
            else:
                stack.extend((inner, depth + 1) for inner in item)


def _check_text(text: str) -> None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return
    if found.group() == "\x00":
        raise ValidationError("text values must not contain NUL (\\u0000) characters")
    raise ValidationError(
        f"text values must be valid Unicode: \\u{ord(found.group()):04x} is half of a surrogate pair "
        "with no other half (send the character itself, or both halves of its escape)")


def _too_deep() -> NoReturn:
    raise ValidationError(f"the request body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels, "
                          "the limit")


def _refuse_constant(name: str) -> NoReturn:
    raise ValidationError(f"the request body holds {name}, which is not JSON; send a number or null")
