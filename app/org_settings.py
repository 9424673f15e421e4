"""An org's own limits for agent SQL: row limit, statement timeout, query rate, queries in flight.

Stored in `org_settings` (sql/050_org_settings.sql), one row per org, NULL
meaning "the platform default". Changes are validated within the platform
bounds and audited in the transaction that makes them; each change bumps
`version`, which the query cache puts in its keys, so no result cached under
the old settings is served after a change.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from app.bodies.requests import SettingsChange
from app.db import Database, Scope
from app.errors import ValidationError
from app.query_settings import QueryBounds, QuerySettings, org_query_settings


@dataclass(frozen=True)
class RateBounds:
    """Per-org query rate: the platform default and what an org may configure."""

    per_minute_default: int = 60
    per_minute_min: int = 1
    per_minute_max: int = 600


@dataclass(frozen=True)
class InflightBounds:
    """Per-org agent queries in flight (app/limits/inflight.py): the platform default and bounds."""

    default: int = 2
    minimum: int = 1
    maximum: int = 20


# API field -> (column, what it limits)
FIELDS: Mapping[str, str] = {
    "queryRowLimit": "query_row_limit",
    "queryStatementTimeoutMs": "query_statement_timeout_ms",
    "queryRatePerMinute": "query_rate_per_minute",
    "queryMaxInFlight": "query_max_in_flight",
}
assert set(FIELDS) == set(SettingsChange.model_fields), "the settings body names the same fields"


@dataclass(frozen=True)
class OrgSettings:
    """One org's overrides (None = platform default) and the version of the row."""

    org_id: uuid.UUID
    query_row_limit: int | None = None
    query_statement_timeout_ms: int | None = None
    query_rate_per_minute: int | None = None
    query_max_in_flight: int | None = None
    version: int = 0
    updated_at: Any = None
    updated_by: uuid.UUID | None = None

    def query_settings(self, *, base: QuerySettings, bounds: QueryBounds) -> QuerySettings:
        """The limits a query of this org runs under, clamped to the bounds."""
        overrides: dict[str, object] = {}
        if self.query_row_limit is not None:
            overrides["query.row_limit"] = self.query_row_limit
        if self.query_statement_timeout_ms is not None:
            overrides["query.statement_timeout_ms"] = self.query_statement_timeout_ms
        return org_query_settings(overrides, base=base, bounds=bounds)

    def rate_per_minute(self, *, rate: RateBounds) -> int:
        if self.query_rate_per_minute is None:
            return rate.per_minute_default
        return min(max(self.query_rate_per_minute, rate.per_minute_min), rate.per_minute_max)

    def max_in_flight(self, *, inflight: InflightBounds) -> int:
        if self.query_max_in_flight is None:
            return inflight.default
        return min(max(self.query_max_in_flight, inflight.minimum), inflight.maximum)


_COLUMNS = sql.SQL(
    "org_id, query_row_limit, query_statement_timeout_ms, query_rate_per_minute, query_max_in_flight,"
    " version, updated_at, updated_by"
)


_LOAD = sql.SQL("SELECT {} FROM org_settings WHERE org_id = (SELECT app.current_org())").format(_COLUMNS)


def load(db: Database, org_id: object) -> OrgSettings:
    """The org's settings; an org that never changed any has version 0 and no overrides."""
    # One round trip on a prepared statement (app/db/wire.py); a statement psycopg's DEALLOCATE ALL
    # dropped behind the wire's back is prepared again there.
    row = db.read_one(org_id, _LOAD)
    if row is None:
        return OrgSettings(org_id=uuid.UUID(str(org_id)))
    return OrgSettings(**row)


def validation_context(
    *, bounds: QueryBounds, rate: RateBounds, inflight: InflightBounds = InflightBounds()
) -> dict[str, object]:
    """SettingsChange's validation context: each field's range within the platform bounds."""
    return {"ranges": {
        "queryRowLimit": (1, bounds.row_limit_max),
        "queryStatementTimeoutMs": (bounds.statement_timeout_ms_min, bounds.statement_timeout_ms_max),
        "queryRatePerMinute": (rate.per_minute_min, rate.per_minute_max),
        "queryMaxInFlight": (inflight.minimum, inflight.maximum),
    }}


def changes_of(change: SettingsChange) -> dict[str, int | None]:
    """A validated SettingsChange as column changes; ValidationError when it names none."""
    changes = {FIELDS[name]: value for name, value in change.given().items()}
    if not changes:
        raise ValidationError(f"nothing to change: send one or more of {', '.join(FIELDS)}")
    return changes


def update(
    db: Database,
    org_id: object,
    changes: Mapping[str, int | None],
    *,
    user_id: object,
    audit: Callable[[Scope, OrgSettings, list[str]], None],
) -> OrgSettings:
    """Upsert the changed columns and bump the version, auditing in the same transaction."""
    names = sorted(changes)
    unknown = set(names) - set(FIELDS.values())
    if unknown:  # column names are from FIELDS only, never from input
        raise ValueError(f"unknown org settings columns {sorted(unknown)}")
    columns = [sql.Identifier(n) for n in names]
    statement = sql.SQL(
        "INSERT INTO org_settings (org_id, {columns}, updated_by)"
        " VALUES (app.current_org(), {values}, %s)"
        " ON CONFLICT (org_id) DO UPDATE SET {assignments},"
        " version = org_settings.version + 1, updated_at = now(), updated_by = EXCLUDED.updated_by"
        " RETURNING {returning}"
    ).format(
        columns=sql.SQL(", ").join(columns),
        values=sql.SQL(", ").join(sql.Placeholder() * len(names)),
        assignments=sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(c) for c in columns),
        returning=_COLUMNS,
    )
    with db.transaction(org_id, user_id=user_id) as scope:
        row = scope.fetch_one(statement, [changes[n] for n in names] + [user_id])
        assert row is not None
        result = OrgSettings(**row)
        audit(scope, result, names)
    return result
