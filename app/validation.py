"""Input validation for entity writes: field-level messages, collected, raised once."""
from __future__ import annotations

import datetime as dt
import decimal
import re
import uuid
from collections.abc import Mapping
from typing import Any

from app.entities import Entity, Field
from app.errors import ValidationError

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _coerce(field: Field, value: Any) -> Any:
    """The value as the column expects it; raises ValueError with a user-facing message."""
    if value is None:
        if not field.nullable or field.required:
            raise ValueError("must not be null")
        return None
    kind = field.kind
    if kind in ("text", "email", "choice"):
        if not isinstance(value, str):
            raise ValueError("must be a string")
        value = value.strip() if kind != "text" else value
        if field.required and not value.strip():
            raise ValueError("must not be empty")
        if field.max_len is not None and len(value) > field.max_len:
            raise ValueError(f"must be at most {field.max_len} characters")
        if kind == "email":
            value = value.lower()
            if not _EMAIL.match(value):
                raise ValueError("must be an email address")
        if field.pattern is not None and not re.fullmatch(field.pattern, value):
            raise ValueError(f"must be {field.pattern_hint or 'of the form ' + field.pattern}")
        if kind == "choice" and value not in field.choices:
            raise ValueError(f"must be one of: {', '.join(field.choices)}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be an integer")
        _check_range(field, value)
        return value
    if kind == "decimal":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError("must be a number")
        try:
            number = decimal.Decimal(str(value))
        except decimal.InvalidOperation:
            raise ValueError("must be a number") from None
        if not number.is_finite():
            raise ValueError("must be a finite number")
        _check_range(field, number)
        return number
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if kind == "date":
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            raise ValueError("must be a date (YYYY-MM-DD)") from None
    if kind == "datetime":
        try:
            parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("must be an ISO 8601 date-time") from None
        if parsed.tzinfo is None:
            raise ValueError("must include a time zone offset")
        return parsed
    if kind == "ref":
        return parse_uuid(value)
    raise AssertionError(f"unknown field kind {kind}")


def _check_range(field: Field, value: Any) -> None:
    if field.minimum is not None and value < field.minimum:
        raise ValueError(f"must be at least {field.minimum:g}")
    if field.maximum is not None and value > field.maximum:
        raise ValueError(f"must be at most {field.maximum:g}")


def parse_uuid(value: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise ValueError("must be an id (a UUID string)")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValueError("must be an id (a UUID string)") from None


def validate_write(entity: Entity, data: Any, *, partial: bool) -> dict[str, Any]:
    """Coerce a create (partial=False) or patch (partial=True) body; ValidationError lists every bad field."""
    if not isinstance(data, Mapping):
        raise ValidationError("the request body must be a JSON object")
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    fields = entity.by_name
    for name, value in data.items():
        field = fields.get(name)
        if field is None:
            errors[name] = "is not a field of " + entity.name
        elif not field.writable:
            errors[name] = "is read-only"
        else:
            try:
                clean[name] = _coerce(field, value)
            except ValueError as exc:
                errors[name] = str(exc)
    if not partial:
        for field in entity.fields:
            if field.required and field.name not in data and field.name not in errors:
                errors[field.name] = "is required"
    _check_date_order(data, clean, errors)
    if partial and not data:
        raise ValidationError("the request body names no field to change")
    if errors:
        raise ValidationError(
            "invalid " + (entity.singular or entity.name) + ": "
            + "; ".join(f"{k} {v}" for k, v in sorted(errors.items())),
            details={"fields": errors},
        )
    return clean


def _check_date_order(data: Mapping[str, Any], clean: dict[str, Any], errors: dict[str, str]) -> None:
    """start_date <= due_date when both are given (the projects CHECK), as a field error."""
    start, due = clean.get("start_date"), clean.get("due_date")
    if start is not None and due is not None and due < start and "due_date" not in errors:
        errors["due_date"] = "must not be before start_date"


def coerce_filter(field: Field, raw: str) -> Any:
    """A query-string filter value, typed like the column."""
    if field.kind in ("int",):
        try:
            return int(raw)
        except ValueError:
            raise ValidationError(f"filter {field.name} must be an integer",
                                  details={"fields": {field.name: "must be an integer"}}) from None
    try:
        return _coerce(Field(field.name, field.kind, max_len=None, choices=field.choices), raw)
    except ValueError as exc:
        raise ValidationError(f"filter {field.name} {exc}", details={"fields": {field.name: str(exc)}}) from None
