"""Request bodies, declared once as pydantic models: they validate requests and are the OpenAPI components.

A view declares `body=Model` and receives it parsed as `body` (app/http/endpoint_runtime.py, by
app/http/body.py's `parsed_body`): the JSON object (already checked for depth, NUL,
surrogates and NaN by app/http/json_input.py) validated into the model, or a
400 ValidationError whose `fields` name every bad field with a message in the
API's style ("is required", "must be at most 100 characters"). Field rules and
their messages: app/bodies/fields.py. The models: app/bodies/crm.py (generated
from app/entities.py) and app/bodies/requests.py.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import pydantic
from pydantic_core import ErrorDetails

from app.errors import ValidationError


class Body(pydantic.BaseModel):
    """A request body. Unknown fields are ignored unless the model forbids them (extra="forbid")."""

    model_config = pydantic.ConfigDict(extra="ignore", frozen=True)
    _subject: ClassVar[str] = "request"  # "invalid <subject>: ..." in the error message

    @classmethod
    def unknown_field(cls, name: str) -> str:
        """The message for a field the model does not have (when it forbids them)."""
        return "is not a field of this request"

    def given(self) -> dict[str, Any]:
        """The fields the client sent (a null included), by name: what a partial update changes."""
        return {name: getattr(self, name) for name in sorted(self.model_fields_set)}


B = TypeVar("B", bound=Body)

# pydantic's error types, in the API's words (field rules raise their own: type "atlas").
MESSAGES: Mapping[str, str] = {
    "missing": "is required",
    "string_type": "must be a string",
    "string_too_short": "must be at least {min_length} characters",
    "string_too_long": "must be at most {max_length} characters",
    "greater_than_equal": "must be at least {ge:g}",
    "less_than_equal": "must be at most {le:g}",
    "int_type": "must be an integer",
    "bool_type": "must be true or false",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
}


def message(model: type[Body], error: ErrorDetails) -> str:
    context: dict[str, Any] = dict(error.get("ctx") or {})
    if error["type"] == "atlas":
        return str(context["message"])
    if error["type"] == "extra_forbidden":
        return model.unknown_field(str(error["loc"][-1]))
    if error["type"] == "string_too_short" and context.get("min_length") == 1:
        return "must not be empty"
    template = MESSAGES.get(error["type"])
    if template is None:
        return error["msg"][:1].lower() + error["msg"][1:]
    return template.format(**{k: float(v) if k in ("ge", "le") else v for k, v in context.items()})


def validated(model: type[B], data: Any, *, context: Mapping[str, Any] | None = None) -> B:
    """`data` as a `model`; ValidationError lists every bad field (keyed by its name, nested or not)."""
    if not isinstance(data, Mapping):
        raise ValidationError("the request body must be a JSON object")
    try:
        return model.model_validate(data, context=context)
    except pydantic.ValidationError as exc:
        fields: dict[str, str] = {}
        for error in exc.errors():
            name = str(error["loc"][-1]) if error["loc"] else "body"
            fields.setdefault(name, message(model, error))
        raise ValidationError(
            f"invalid {model._subject}: " + "; ".join(f"{k} {v}" for k, v in sorted(fields.items())),
            details={"fields": fields},
        ) from None
