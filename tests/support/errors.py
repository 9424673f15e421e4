"""Reading an error answer in one place, so a change of the error shape is one edit.

Every test that looks at an error's code, message or fields goes through
`error_of`, whatever client produced the answer (Flask's test client, requests,
urllib) or a body already decoded. The shape (issue 13): `{"code", "message"}`
at the top level, plus `"fields"` for validation, as Better Auth's client reads it.
"""
from __future__ import annotations

from typing import Any

ERROR_KEYS = ({"code", "message"}, {"code", "message", "fields"})


def error_of(answer: Any) -> dict[str, Any]:
    """The error object of an answer: {"code", "message", and "fields" when validation failed}."""
    body = answer
    if hasattr(answer, "get_json"):
        body = answer.get_json()
    elif hasattr(answer, "json") and callable(answer.json):
        body = answer.json()
    assert isinstance(body, dict) and isinstance(body.get("code"), str) \
        and isinstance(body.get("message"), str), f"not an error answer: {body!r}"
    return {key: body[key] for key in ("code", "message", "fields") if key in body}


def error_code(answer: Any) -> str:
    return str(error_of(answer)["code"])


def is_exact_error(body: Any) -> bool:
    """True if `body` is exactly the error shape, no more keys."""
    return isinstance(body, dict) and set(body) in ERROR_KEYS
