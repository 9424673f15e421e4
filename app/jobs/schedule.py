"""Cron schedules for recurring jobs, with croniter.

croniter (pallets-eco) is the cron library most Python schedulers use: standard
five-field expressions with ranges, steps, names and @hourly-style aliases, and
next-occurrence arithmetic that handles month ends; writing our own parser would
only add bugs. Times are UTC.

croniter checks each field on its own, so it accepts expressions naming a date
that never comes (`0 0 30 2 *`, `0 0 31 4 *`) and fails only when asked for the
next run. An expression is therefore valid only if it has a next run within
MAX_YEARS_BETWEEN_RUNS, computed at validation time with the same bounded search
the worker uses to re-arm it.
"""
from __future__ import annotations

import datetime as dt

from croniter import CroniterError, croniter

from app.errors import ValidationError

# The widest gap a real schedule can have: 29 February on a given weekday recurs within 28 years
# (`0 0 29 2 1` with day-or semantics runs every Monday, so in practice far sooner). Bounding the
# search keeps an impossible date a cheap refusal rather than a long scan.
MAX_YEARS_BETWEEN_RUNS = 28
_HINT = "must be a cron expression (minute hour day month weekday)"


def check(expression: object) -> str:
    """A valid five-field cron expression that names a reachable time, or ValidationError naming `schedule`."""
    if not isinstance(expression, str) or not croniter.is_valid(expression) or len(expression.split()) > 5:
        raise ValidationError("schedule must be a five-field cron expression such as '0 6 * * *'",
                              details={"fields": {"schedule": _HINT}})
    expression = expression.strip()
    next_run(expression)
    return expression


def next_run(expression: str, *, after: dt.datetime | None = None) -> dt.datetime:
    """The first time strictly after `after` (default: now, UTC) that the schedule names.

    Raises ValidationError (field `schedule`) for an expression with no run in MAX_YEARS_BETWEEN_RUNS,
    such as a date that does not exist (30 February, 31 April).
    """
    start = after or dt.datetime.now(dt.UTC)
    try:
        return croniter(expression, start, max_years_between_matches=MAX_YEARS_BETWEEN_RUNS).get_next(dt.datetime)
    except CroniterError:
        raise ValidationError(
            f"schedule {expression!r} never runs: it names a date that does not exist (such as 30 February "
            "or 31 April); pick a day that one of the chosen months has",
            details={"fields": {"schedule": "names no date that exists within "
                                            f"{MAX_YEARS_BETWEEN_RUNS} years"}}) from None
