"""Field rules for request bodies: each checks a JSON value with the API's messages and describes itself.

A rule is pydantic metadata (`Annotated[str, Text(max_len=300)]`): it builds
the core schema (null and type checks first, then pydantic's own length and
range constraints, then format checks) and adds what pydantic cannot infer to
the JSON Schema, so validation and the OpenAPI document read one declaration.
Messages are raised as the `atlas` error type; app/bodies/__init__.py turns
pydantic's own error types (missing, too long, out of range) into the same style.
"""
from __future__ import annotations

import datetime as dt
import decimal
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn

import annotated_types as at
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

ROLE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")  # sql/144_custom_roles.sql


def fail(message: str) -> NoReturn:
    """Refuse a value with a field message (the message is data, never a template)."""
    raise PydanticCustomError("atlas", "{message}", {"message": message})


@dataclass(frozen=True)
class Rule:
    """Null check, then `before`, then the source type with `constraints()`, then `after`."""

    null: str = "must not be null"  # the message for an explicit null (Optional fields never see one)

    def before(self, value: Any) -> Any:
        return value

    def after(self, value: Any) -> Any:
        return value

    def constraints(self) -> tuple[Any, ...]:
        return ()

    def json_extra(self) -> dict[str, Any]:
        return {}

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        def before(value: Any) -> Any:
            if value is None:
                fail(self.null)
            return self.before(value)

        constraints = self.constraints()
        inner = handler.generate_schema(Annotated[(source, *constraints)] if constraints else source)
        return core_schema.no_info_before_validator_function(
            before, core_schema.no_info_after_validator_function(self.after, inner))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {**handler(schema), **self.json_extra()}


@dataclass(frozen=True)
class Text(Rule):
    """A string: stripped unless strip=False, not blank unless blank=True, min_len..max_len characters."""

    max_len: int | None = 200
    min_len: int = 0
    strip: bool = True
    blank: bool = False
    pattern: str | None = None  # full match, mirroring a column CHECK
    hint: str = ""  # what the pattern means, for the message

    def before(self, value: Any) -> Any:
        if not isinstance(value, str):
            fail("must be a string")
        value = value.strip() if self.strip else value
        if not self.blank and not value.strip():
            fail("must not be empty")
        return value

    def constraints(self) -> tuple[Any, ...]:
        low = self.min_len if self.blank else max(self.min_len, 1)
        return (at.Len(low, self.max_len),)

    def after(self, value: Any) -> Any:
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            fail(f"must be {self.hint or 'of the form ' + self.pattern}")
        return value

    def json_extra(self) -> dict[str, Any]:
        return {} if self.pattern is None else {"pattern": f"^(?:{self.pattern})$"}


@dataclass(frozen=True)
class Email(Text):
    """An email address, stripped and lower-cased."""

    max_len: int | None = 254

    def after(self, value: Any) -> Any:
        value = value.lower()
        if not EMAIL.match(value):
            fail("must be an email address")
        return value

    def json_extra(self) -> dict[str, Any]:
        return {"format": "email"}


@dataclass(frozen=True)
class Slug(Text):
    """An org slug: what a URL segment can carry."""

    max_len: int | None = 63

    def after(self, value: Any) -> Any:
        if not SLUG.match(value):
            fail("must be 1-63 characters of a-z, 0-9 and -, starting with a letter or digit")
        return value

    def json_extra(self) -> dict[str, Any]:
        return {"pattern": SLUG.pattern}


@dataclass(frozen=True)
class Choice(Rule):
    """One of a fixed list of strings (stripped first when strip=True)."""

    options: tuple[str, ...] = ()
    strip: bool = False
    one_item_list: bool = False  # also take ["x"] for "x" (Better Auth's clients send roles as arrays)

    def before(self, value: Any) -> Any:
        if self.one_item_list and isinstance(value, list):
            if len(value) != 1:
                fail(f"must be one of: {', '.join(self.options)} (one role per member)")
            value = value[0]
        if self.strip:
            if not isinstance(value, str):
                fail("must be a string")
            value = value.strip()
        if value not in self.options:
            fail(f"must be one of: {', '.join(self.options)}")
        return value

    def json_extra(self) -> dict[str, Any]:
        return {"enum": list(self.options)}


@dataclass(frozen=True)
class RoleRef(Rule):
    """A built-in role or the name of one of the org's custom roles (the view checks it exists)."""

    builtin: tuple[str, ...] = ()

    def before(self, value: Any) -> Any:
        if isinstance(value, list):  # Better Auth's clients send roles as arrays
            if len(value) != 1:
                fail(f"must be one role: {', '.join(self.builtin)} or a custom role's name (one role per member)")
            value = value[0]
        if not isinstance(value, str) or not ROLE_NAME.match(value.strip().lower()):
            fail(f"must be one of: {', '.join(self.builtin)}, or a custom role's name")
        return value.strip().lower()

    def json_extra(self) -> dict[str, Any]:
        return {"pattern": ROLE_NAME.pattern,
                "description": f"{', '.join(self.builtin)}, or the name of one of the org's custom roles"}


@dataclass(frozen=True)
class Id(Rule):
    """A UUID, given as a string."""

    message: str = "must be an id (a UUID string)"
    strings_only: bool = True

    def before(self, value: Any) -> Any:
        if self.strings_only and not isinstance(value, str):
            fail(self.message)
        try:
            return uuid.UUID(str(value))
        except ValueError:
            fail(self.message)


@dataclass(frozen=True)
class Integer(Rule):
    """A JSON integer (not a boolean, not 1.0) within minimum..maximum."""

    minimum: float | None = None
    maximum: float | None = None

    def before(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            fail("must be an integer")
        return value

    def constraints(self) -> tuple[Any, ...]:
        return (at.Interval(ge=self.minimum, le=self.maximum),)


@dataclass(frozen=True)
class Amount(Rule):
    """An exact decimal, written as a JSON number (or a numeric string), finite, within minimum..maximum."""

    minimum: float | None = None
    maximum: float | None = None

    def before(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            fail("must be a number")
        try:
            number = decimal.Decimal(str(value))
        except decimal.InvalidOperation:
            fail("must be a number")
        if not number.is_finite():
            fail("must be a finite number")
        if self.minimum is not None and number < self.minimum:
            fail(f"must be at least {self.minimum:g}")
        if self.maximum is not None and number > self.maximum:
            fail(f"must be at most {self.maximum:g}")
        return number

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        bounds = {"minimum": self.minimum, "maximum": self.maximum}
        return {"type": "number", **{k: v for k, v in bounds.items() if v is not None}}


@dataclass(frozen=True)
class Flag(Rule):
    """A JSON boolean."""

    message: str = "must be true or false"

    def before(self, value: Any) -> Any:
        if not isinstance(value, bool):
            fail(self.message)
        return value


def _iso(parse: Callable[[str], Any], value: Any, message: str) -> Any:
    try:
        return parse(str(value))
    except ValueError:
        fail(message)


@dataclass(frozen=True)
class IsoDate(Rule):
    """A calendar date, YYYY-MM-DD."""

    def before(self, value: Any) -> Any:
        return _iso(dt.date.fromisoformat, value, "must be a date (YYYY-MM-DD)")


@dataclass(frozen=True)
class IsoDateTime(Rule):
    """An ISO 8601 date-time with a zone offset."""

    def before(self, value: Any) -> Any:
        parsed = _iso(dt.datetime.fromisoformat, str(value).replace("Z", "+00:00"), "must be an ISO 8601 date-time")
        if parsed.tzinfo is None:
            fail("must include a time zone offset")
        return parsed
