"""What a gateway query returns, and the seam a result cache plugs into."""
from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Protocol


@dataclass(frozen=True)
class PreparedQuery:
    """A checked, rewritten query: `sql` is the only text ever sent to PostgreSQL."""

    sql: str
    org_id: uuid.UUID
    row_limit: int
    tables: tuple[str, ...]
    org_predicate: bool = True  # False on an org's own datasource (app/connections): app.org_id is not set


@dataclass(frozen=True)
class QueryResult:
    """Rows of one query, at most row_limit of them and about result_max_bytes of text.

    `truncated` when more existed; `truncated_reason` says which bound stopped
    it ("row_limit" or "result_bytes"); `byte_size` is the rows' size as text,
    as PostgreSQL measured it (0 when unknown, e.g. from the Redis cache).
    """

    columns: tuple[dict[str, str], ...]
    rows: tuple[tuple[Any, ...], ...]
    truncated: bool
    cached: bool = False
    truncated_reason: str | None = None
    byte_size: int = 0

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def as_cached(self) -> QueryResult:
        return replace(self, cached=True)

    def to_json(self) -> dict[str, Any]:
        """The API's body: {"columns", "rows", "rowCount", "truncated", "cached"}, and "truncatedReason" if truncated."""
        body: dict[str, Any] = {
            "columns": [dict(c) for c in self.columns],
            "rows": [[jsonable(v) for v in row] for row in self.rows],
            "rowCount": self.row_count,
            "truncated": self.truncated,
            "cached": self.cached,
        }
        if self.truncated and self.truncated_reason:
            body["truncatedReason"] = self.truncated_reason
        return body


@dataclass(frozen=True)
class CacheKey:
    """Everything that decides what a cached result may be served for.

    `sql` is the final SQL (normalized by sqlglot; it carries the org literal and
    the row limit); `config_version` changes when the org's semantic layer or
    query settings change, retiring every entry made under the old ones.
    """

    sql: str
    org_id: str
    connection_id: str = "default"
    claims: tuple[tuple[str, str], ...] = field(default=())
    config_version: str = ""


class ResultCache(Protocol):
    """Where run_query looks before executing and stores after."""

    def get(self, key: CacheKey) -> QueryResult | None: ...

    def put(self, key: CacheKey, result: QueryResult) -> None: ...


def jsonable(value: Any) -> Any:
    """A JSON-ready value: exact numerics stay numbers when a float holds them exactly."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return str(value)
        if value == value.to_integral_value() and abs(value) < 2**53:
            return int(value)
        as_float = float(value)
        return as_float if decimal.Decimal(repr(as_float)) == value.normalize() else str(value)
    if isinstance(value, (uuid.UUID,)):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    return str(value)
