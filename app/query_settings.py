"""Limits for agent SQL: platform defaults and bounds, and an org's overrides within them.

An org's `settings` may lower or raise its row limit and statement timeout, but
never past the platform bounds: one tenant must not be able to monopolize the
database by configuration any more than by SQL.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from app.errors import ValidationError

# ATLAS_QUERY_MAX_VALUE_BYTES: what one row of an agent query may build inside the backend (gateway/value_size.py).
# Declared here, below the gateway: the gateway's execute reads these settings, so importing it from here is a circle.
MAX_VALUE_BYTES = 64 * 1024 * 1024

# Until the semantic layer declares an org's tables, the agent may read the CRM.
CRM_TABLES: tuple[str, ...] = (
    "accounts",
    "contacts",
    "leads",
    "opportunities",
    "activities",
    "notes",
    "projects",
    "sites",
    "knowledge_files",
)


@dataclass(frozen=True)
class QueryBounds:
    """What the platform allows any org to configure."""

    row_limit_max: int = 10_000
    statement_timeout_ms_min: int = 100
    statement_timeout_ms_max: int = 60_000


@dataclass(frozen=True)
class QuerySettings:
    """The limits one agent query runs under."""

    row_limit: int = 1_000
    statement_timeout_ms: int = 10_000
    work_mem_kb: int = 16_384
    max_sql_bytes: int = 100_000
    result_max_bytes: int = 10 * 1024 * 1024  # QUERY_RESULT_MAX_BYTES: rows as text, measured by PostgreSQL
    allowed_tables: tuple[str, ...] = CRM_TABLES
    max_value_bytes: int = MAX_VALUE_BYTES  # what one row may build inside the backend (gateway/value_size.py)

    def __post_init__(self) -> None:
        if self.row_limit < 1:
            raise ValidationError("query.row_limit must be at least 1")
        if self.statement_timeout_ms < 1:
            raise ValidationError("query.statement_timeout_ms must be at least 1")
        if not 64 <= self.work_mem_kb <= 1_048_576:
            raise ValidationError("query.work_mem_kb must be between 64 and 1048576")
        if self.result_max_bytes < 1:
            raise ValidationError("query.result_max_bytes must be at least 1")
        if self.max_value_bytes < 1024:
            raise ValidationError("ATLAS_QUERY_MAX_VALUE_BYTES must be at least 1024")
        if self.max_sql_bytes < 1:
            raise ValidationError("query.max_sql_bytes must be at least 1")
        bad = [t for t in self.allowed_tables if t != t.lower() or t.startswith("pg_")]
        if bad:
            raise ValidationError(f"allowed tables must be lower-case and not pg_*: {bad}")


def org_query_settings(
    org_settings: Mapping[str, object] | None,
    *,
    base: QuerySettings = QuerySettings(),
    bounds: QueryBounds = QueryBounds(),
) -> QuerySettings:
    """Apply an org's `query.row_limit` / `query.statement_timeout_ms`, clamped to the bounds.

    Raises ValidationError when a value is not a positive integer.
    """
    org_settings = org_settings or {}
    changes: dict[str, Any] = {}
    for key, field_name, low, high in (
        ("query.row_limit", "row_limit", 1, bounds.row_limit_max),
        (
            "query.statement_timeout_ms",
            "statement_timeout_ms",
            bounds.statement_timeout_ms_min,
            bounds.statement_timeout_ms_max,
        ),
    ):
        if key not in org_settings:
            continue
        value = org_settings[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError(f"{key} must be a positive integer", details={"fields": {key: "invalid"}})
        changes[field_name] = min(max(value, low), high)
    return replace(base, **changes)
