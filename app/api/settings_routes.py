"""The org's settings over HTTP: agent query limits within the platform bounds.

GET for every member (`settings` read), PATCH for admins and owners
(`settings` update). A change is audited in its own transaction and bumps the
settings version, which retires the org's cached query results.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, g
from flask.typing import ResponseReturnValue

from app import audit, org_settings
from app.api import get_db
from app.api.spec.schemas import ref
from app.bodies.requests import SettingsChange
from app.db import Scope
from app.endpoint import endpoint
from app.http.context import services
from app.org_settings import FIELDS, OrgSettings
from app.permissions import permission
from app.serialize import value_json

bp = Blueprint("settings", __name__, url_prefix="/api/v1")


def _settings_json(row: OrgSettings) -> dict[str, Any]:
    state = services().queries.limits
    limits = row.query_settings(base=state.base, bounds=state.bounds)
    return {
        "settings": {name: getattr(row, column) for name, column in FIELDS.items()},
        "effective": {"queryRowLimit": limits.row_limit, "queryStatementTimeoutMs": limits.statement_timeout_ms,
                      "queryRatePerMinute": row.rate_per_minute(rate=state.rate),
                      "queryMaxInFlight": row.max_in_flight(inflight=state.inflight_bounds)},
        "bounds": {
            "queryRowLimit": {"min": 1, "max": state.bounds.row_limit_max},
            "queryStatementTimeoutMs": {"min": state.bounds.statement_timeout_ms_min,
                                        "max": state.bounds.statement_timeout_ms_max},
            "queryRatePerMinute": {"min": state.rate.per_minute_min, "max": state.rate.per_minute_max},
            "queryMaxInFlight": {"min": state.inflight_bounds.minimum, "max": state.inflight_bounds.maximum},
        },
        "version": row.version,
        "updatedAt": value_json(row.updated_at),
        "updatedBy": value_json(row.updated_by),
    }


@bp.get("/settings")
@endpoint(permission("settings", "read"), tag="settings", response=ref("OrgSettings"))
def get_settings() -> ResponseReturnValue:
    """The org's settings: agent query limits, effective values and platform bounds."""
    return _settings_json(org_settings.load(get_db(), g.identity.org_id))


def _bounds() -> dict[str, object]:
    """The body's validation context: the platform bounds in effect (app/bodies/requests.py SettingsChange)."""
    state = services().queries.limits
    return org_settings.validation_context(bounds=state.bounds, rate=state.rate, inflight=state.inflight_bounds)


@bp.patch("/settings")
@endpoint(permission("settings", "update"), tag="settings", body=SettingsChange, body_context=_bounds,
          response=ref("OrgSettings"))
def patch_settings(body: SettingsChange) -> ResponseReturnValue:
    """Change agent query limits within the platform bounds (null: platform default); audited.

    Set some of queryRowLimit, queryStatementTimeoutMs, queryRatePerMinute, queryMaxInFlight (null: default).
    """
    changes = org_settings.changes_of(body)

    def record(scope: Scope, row: OrgSettings, columns: list[str]) -> None:
        audit.record(scope, action="settings.update", entity="settings", entity_id=row.org_id,
                     changed_fields=columns, detail={"version": row.version,
                                                     "values": {c: changes[c] for c in columns}})

    ident = g.identity
    row = org_settings.update(get_db(), ident.org_id, changes, user_id=ident.user_id, audit=record)
    return _settings_json(row)
