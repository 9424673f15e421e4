"""What each job kind's payload may hold, declared as pydantic models (app/jobs/kinds.py names its model).

A payload is validated when the job is enqueued (app/jobs/store.py) and stored
as the model dumps it, so a worker reads only what its kind declared. A bad
payload is a 400 naming the field as `payload.<field>`, in the kind's own words.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import pydantic
from pydantic import Field, StringConstraints

from app.errors import ValidationError

WARM_RECENT_DEFAULT = 20
WARM_RECENT_MAX = 100


class Payload(pydantic.BaseModel):
    """A job's payload; unknown fields are dropped. `refusals`: the message for each bad field."""

    model_config = pydantic.ConfigDict(extra="ignore", frozen=True)
    refusals: ClassVar[Mapping[str, str]] = {}

    def stored(self) -> dict[str, Any]:
        """What the job row keeps: the fields given or defaulted, without the absent optional ones."""
        return self.model_dump(exclude_none=True)


class Reprofile(Payload):
    refusals: ClassVar[Mapping[str, str]] = {"tables": "must be a list of table names"}
    tables: Annotated[list[Annotated[str, StringConstraints(strict=True, min_length=1, max_length=63)]],
                      Field(max_length=200)] | None = None

    def stored(self) -> dict[str, Any]:
        return {} if self.tables is None else {"tables": sorted(set(self.tables))}


class ScheduledQuery(Payload):
    refusals: ClassVar[Mapping[str, str]] = {"sql": "must be one SELECT statement (at most 100000 characters)"}
    sql: Annotated[str, StringConstraints(strict=True, max_length=100_000, pattern=r"\S")]


class WarmCache(Payload):
    refusals: ClassVar[Mapping[str, str]] = {"recent": f"must be an integer from 0 to {WARM_RECENT_MAX}"}
    recent: Annotated[int, Field(strict=True, ge=0, le=WARM_RECENT_MAX)] = WARM_RECENT_DEFAULT


class Sleep(Payload):
    refusals: ClassVar[Mapping[str, str]] = {"seconds": "must be a number from 0 to 3600",
                                             "failAttempts": "must be an integer >= 0"}
    seconds: Annotated[int, Field(strict=True, ge=0, le=3600)] | Annotated[float, Field(strict=True, ge=0, le=3600)] = 0
    failAttempts: Annotated[int, Field(strict=True, ge=0)] = 0  # the API's camelCase


def checked(model: type[Payload], payload: Mapping[str, Any]) -> dict[str, Any]:
    """`payload` validated by `model`, as stored; a 400 naming the first bad field."""
    try:
        return model.model_validate(dict(payload)).stored()
    except pydantic.ValidationError as exc:
        name = str(exc.errors()[0]["loc"][0])
        message = model.refusals.get(name, exc.errors()[0]["msg"])
        raise ValidationError(f"invalid payload: {name} {message}",
                              details={"fields": {f"payload.{name}": message}}) from None
