"""JSON rendering of database rows: ids, times and amounts as strings clients can parse.

Flask's default JSON provider writes datetimes as RFC 822 dates and would
turn a Decimal into a float; the API promises ISO 8601 and exact amounts, so
every row passes through here before it is returned.
"""
from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Iterable, Mapping
from typing import Any


def value_json(value: Any) -> Any:
    """One column value as JSON: UUID and Decimal as strings, dates and times as ISO 8601."""
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): value_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [value_json(v) for v in value]
    return value


def row_json(row: Mapping[str, Any], *, omit: Iterable[str] = ()) -> dict[str, Any]:
    """A row as a JSON object, keys in column order, without the `omit` columns."""
    skip = frozenset(omit)
    return {key: value_json(value) for key, value in row.items() if key not in skip}


def rows_json(rows: Iterable[Mapping[str, Any]], *, omit: Iterable[str] = ()) -> list[dict[str, Any]]:
    skip = tuple(omit)
    return [row_json(row, omit=skip) for row in rows]
