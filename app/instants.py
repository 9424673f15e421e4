"""Instants as Better Auth writes them: ISO 8601 in UTC with milliseconds and `Z`.

JavaScript's `new Date(...)` reads `2026-01-02T03:04:05.123Z` exactly; a
six-digit fraction (Python's isoformat) is read as milliseconds by the
client's date parsing and shifts dates by up to ~16 minutes. Used by every
/api/auth answer; /api/v1 keeps its documented ISO format (app/serialize.py).
"""
from __future__ import annotations

import datetime as dt


def iso_ms(value: object) -> object:
    """A datetime as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC); anything else unchanged."""
    if not isinstance(value, dt.datetime):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
