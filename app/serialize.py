"""JSON rendering of database rows: ids, times and amounts as strings clients can parse.

Flask's default JSON provider writes datetimes as RFC 822 dates and would
turn a Decimal into a float; the API promises ISO 8601 and exact amounts.
The hot paths (CRM and conversation reads and writes) encode with orjson
straight from the rows (`page_json`, `object_json`): UUIDs, dates and times
are native to orjson and written as `value_json` writes them, a Decimal goes
through `_default` as its exact string, and key order is column order. It is
measured against PostgreSQL-built JSON in scripts/bench_json.py;
tests/test_serialize.py holds both encoders to the same output for every entity.
"""
from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson


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


def _default(value: Any) -> Any:
    """What orjson does not write itself: a Decimal as its exact text (never a float)."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> bytes:
    """orjson with the API's rules for the values rows hold (value_json's output, without the walk)."""
    return orjson.dumps(value, default=_default)


def page_json(names: Sequence[str], rows: Iterable[Sequence[Any]], *, next_cursor: str | None) -> bytes:
    """`{"data": [...], "nextCursor": ...}` from rows as tuples, keys in column order."""
    return dumps({"data": [dict(zip(names, row)) for row in rows], "nextCursor": next_cursor})
