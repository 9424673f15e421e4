"""Cron schedules for recurring jobs, with croniter.

croniter (pallets-eco) is the cron library most Python schedulers use: standard
five-field expressions with ranges, steps, names and @hourly-style aliases, and
next-occurrence arithmetic that handles month ends; writing our own parser would
only add bugs. Times are UTC.
"""
from __future__ import annotations

import datetime as dt

from croniter import croniter

from app.errors import ValidationError


def check(expression: object) -> str:
    """A valid five-field cron expression, or ValidationError naming the field `schedule`."""
    if not isinstance(expression, str) or not croniter.is_valid(expression) or len(expression.split()) > 5:
        raise ValidationError("schedule must be a five-field cron expression such as '0 6 * * *'",
                              details={"fields": {"schedule": "must be a cron expression (minute hour day "
                                                              "month weekday)"}})
    return expression.strip()


def next_run(expression: str, *, after: dt.datetime | None = None) -> dt.datetime:
    """The first time strictly after `after` (default: now, UTC) that the schedule names."""
    start = after or dt.datetime.now(dt.UTC)
    return croniter(expression, start).get_next(dt.datetime)
