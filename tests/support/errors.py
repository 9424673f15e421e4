"""Reading an error answer in one place, so a change of the error shape is one edit.

Every test that looks at an error's code, message or fields goes through
`error_of`, whatever client produced the answer (Flask's test client, requests,
urllib) or a body already decoded.
"""
from __future__ import annotations

from typing import Any


def error_of(answer: Any) -> dict[str, Any]:
    """The error object of an answer: {"code", "message", and "fields" when validation failed}."""
    body = answer
    if hasattr(answer, "get_json"):
        body = answer.get_json()
    elif hasattr(answer, "json") and callable(answer.json):
        body = answer.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), f"not an error answer: {body!r}"
    return body["error"]


def error_code(answer: Any) -> str:
    return str(error_of(answer)["code"])
