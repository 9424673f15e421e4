"""Query strings, declared as models like bodies: `@endpoint(..., query=JobFilter)` and the view gets `args`.

A query model is a `Query` whose fields carry the parameter rules below
(app/bodies/fields.py's `Rule`s); each rule parses the raw text, refuses it with the API's message, and
describes itself in the OpenAPI document (type, bounds, default). The first bad
parameter answers a 400 ValidationError naming it (`fields`), as before.

    class JobFilter(Query):
        status: str | None = None
        limit: Annotated[int, Whole(low=1, high=100)] = 50
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import pydantic
from pydantic_core import PydanticCustomError, PydanticUseDefault

from app.bodies.fields import Rule
from app.errors import ValidationError


class Query(pydantic.BaseModel):
    """A query string's parameters; unknown ones are ignored unless the model forbids them."""

    model_config = pydantic.ConfigDict(extra="ignore", frozen=True)

    @classmethod
    def unknown(cls, name: str) -> str:
        """The message for a parameter the model does not have (when it forbids them)."""
        return "is not a parameter of this request"


def refuse(message: str, summary: str = "") -> NoReturn:
    """Refuse a parameter: `message` for its field, `summary` (default "<name> <message>") for the error."""
    raise PydanticCustomError("atlas", "{message}", {"message": message, "summary": summary})


def _given(value: Any) -> Any:
    """An empty parameter (`?limit=`) is an absent one: the field's default."""
    if value == "":
        raise PydanticUseDefault()
    return value


@dataclass(frozen=True)
class Whole(Rule):
    """An integer parameter within low..high; `message` and `summary` are the API's words for a bad one."""

    low: int = 0
    high: int | None = None
    message: str = ""
    summary: str = ""
    empty_is_default: bool = True

    def before(self, value: Any) -> Any:
        if not self.empty_is_default and value == "":
            self._refuse()
        value = _given(value)
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 9:
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < self.low or (
                self.high is not None and value > self.high):
            self._refuse()
        return value

    def _refuse(self) -> NoReturn:
        refuse(self.message or (f"must be an integer between {self.low} and {self.high}" if self.high is not None
                                else "must be a non-negative integer"), self.summary)

    def json_extra(self) -> dict[str, Any]:
        return {"minimum": self.low, **({} if self.high is None else {"maximum": self.high})}


@dataclass(frozen=True)
class TrueFalse(Rule):
    """`true` or `false`."""

    summary: str = ""

    def before(self, value: Any) -> Any:
        value = _given(value)
        if value not in ("true", "false", True, False):
            refuse("must be true or false", self.summary)
        return value in ("true", True)


@dataclass(frozen=True)
class OneOf(Rule):
    """One of `options`, case-insensitive."""

    options: tuple[str, ...] = ()

    def before(self, value: Any) -> Any:
        value = _given(value)
        if not isinstance(value, str) or value.lower() not in self.options:
            refuse("must be " + " or ".join(self.options))
        return value.lower()

    def json_extra(self) -> dict[str, Any]:
        return {"enum": list(self.options)}


@dataclass(frozen=True)
class Parsed(Rule):
    """A parameter turned into a value by `parse` (a ValueError's text is the message)."""

    parse: Callable[[str], Any] = str
    schema: Mapping[str, Any] = field(default_factory=dict)  # what the document says it is

    def before(self, value: Any) -> Any:
        value = _given(value)
        try:
            return self.parse(value)
        except ValueError as exc:
            refuse(str(exc))

    def json_extra(self) -> dict[str, Any]:
        return dict(self.schema)


def validated_query(model: type[Query], args: Mapping[str, str]) -> Any:
    """The query string (each parameter's first value) as a `model`, or a 400 naming the first bad one."""
    try:
        return model.model_validate({name: args[name] for name in args})
    except pydantic.ValidationError as exc:
        errors = exc.errors()
        unknown = sorted((e for e in errors if e["type"] == "extra_forbidden"), key=lambda e: str(e["loc"]))
        error = (unknown or errors)[0]  # an unknown parameter first, as it means the client misread the API
        name = str(error["loc"][-1]) if error["loc"] else "query"
        context: dict[str, Any] = dict(error.get("ctx") or {})
        if error["type"] == "extra_forbidden":
            message = model.unknown(name)
        else:
            message = str(context.get("message") or error["msg"])
        raise ValidationError(context.get("summary") or f"{name} {message}",
                              details={"fields": {name: message}}) from None
