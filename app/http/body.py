"""The request's JSON body, read once per need and validated into a model (app/bodies declares the models)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import request

from app.bodies import B, validated
from app.errors import ValidationError


def json_body() -> dict[str, Any]:
    """The request's JSON object; an empty body is {}; anything else is a 400.

    The body was decoded through CheckedJSONProvider, so nesting, NUL and lone
    surrogates are already refused.
    """
    if not request.get_data(cache=True):
        return {}
    body = request.get_json(silent=True) if request.is_json else None
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object (valid JSON, "
                              "Content-Type: application/json)")
    return body


def parsed_body(model: type[B], *, context: Mapping[str, Any] | None = None) -> B:
    """The request's JSON body as a `model` (an empty body is {}).

    The endpoint runtime hands a view its declared body parsed by this (app/http/endpoint_runtime.py);
    a view that declares `reads_body=True` calls it itself, where its comment says.
    """
    return validated(model, json_body(), context=context)
