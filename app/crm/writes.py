"""Entity writes and list filters, validated by the models generated from app/entities.py (app/bodies/crm.py)."""
from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from typing import Any

import pydantic

from app.bodies import Body, message, validated
from app.bodies.crm import CREATE, UPDATE, rule
from app.entities import Entity, Field
from app.errors import ValidationError


def parse_uuid(value: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise ValueError("must be an id (a UUID string)")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValueError("must be an id (a UUID string)") from None


def validate_write(entity: Entity, data: Any, *, partial: bool) -> dict[str, Any]:
    """Coerce a create (partial=False) or patch (partial=True) body; ValidationError lists every bad field."""
    if partial and isinstance(data, Mapping) and not data:
        raise ValidationError("the request body names no field to change")
    return checked_write(entity, validated((UPDATE if partial else CREATE)[entity.name], data))


def checked_write(entity: Entity, body: Body) -> dict[str, Any]:
    """A validated create or patch body's fields, checked across fields; ValidationError names the field."""
    clean = body.given()
    start, due = clean.get("start_date"), clean.get("due_date")
    if start is not None and due is not None and due < start:  # the projects CHECK, as a field error
        message = "must not be before start_date"
        raise ValidationError(f"invalid {entity.singular or entity.name}: due_date {message}",
                              details={"fields": {"due_date": message}})
    return clean


@functools.cache
def _filter_adapter(field: Field) -> pydantic.TypeAdapter[Any]:
    """A filter value is checked like a write of the column, without its length limit."""
    return pydantic.TypeAdapter(rule(Field(field.name, field.kind, max_len=None, choices=field.choices)))


def coerce_filter(field: Field, raw: str) -> Any:
    """A query-string filter value, typed like the column."""
    if field.kind in ("int",):
        try:
            return int(raw)
        except ValueError:
            raise ValidationError(f"filter {field.name} must be an integer",
                                  details={"fields": {field.name: "must be an integer"}}) from None
    try:
        return _filter_adapter(field).validate_python(raw)
    except pydantic.ValidationError as exc:
        problem = message(Body, exc.errors()[0])
        raise ValidationError(f"filter {field.name} {problem}", details={"fields": {field.name: problem}}) from None
