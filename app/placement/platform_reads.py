"""Platform admins' counts of orgs in dedicated databases, read where their rows live.

The organization list and stats (app/api/platform_admin.py) read the shared
database in one platform transaction, which checks the caller and records the
look. An org placed elsewhere (app/placement) keeps its jobs, conversations and
audit rows in its own database: those counts are read there, as the platform
role, in a read-only transaction with the same platform scope (sql/098), one
statement per dedicated database. `read_in` is the same read for one org's rows
of any query (app/api/platform_org.py).
"""
from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from app.db import Scope
from app.db.scoped_settings import scoped_settings
from app.placement.router import PlacedSource

_PLACED = "SELECT organization_id, location FROM org_placements"


def placed_orgs(scope: Scope) -> dict[uuid.UUID, str]:
    """Inside a platform transaction on the shared database: every placed org and its location."""
    return {row["organization_id"]: row["location"] for row in scope.fetch_all(_PLACED)}


def read_elsewhere(source: PlacedSource, placed: dict[uuid.UUID, str], *, user_id: object,
                   query: str, org: uuid.UUID | None = None) -> dict[uuid.UUID, dict[str, Any]]:
    """Run `query` (taking %(orgs)s, one row per org with its org_id) in each placed org's database.

    With `org`, the transaction is also scoped to that org, so its tenant policies admit its rows.
    """
    by_location: dict[str, list[uuid.UUID]] = defaultdict(list)
    for placed_org, location in placed.items():
        by_location[location].append(placed_org)
    found: dict[uuid.UUID, dict[str, Any]] = {}
    for location, orgs in sorted(by_location.items()):
        rows = read_in(source, location, user_id=user_id, query=query, params={"orgs": orgs}, org=org)
        found.update({row.pop("org_id"): row for row in rows})
    return found


def read_in(source: PlacedSource, location: str, *, user_id: object, query: str,
            params: Mapping[str, Any], org: uuid.UUID | None = None) -> list[dict[str, Any]]:
    """Every row of `query` in one dedicated database, as the platform role, read-only, in platform scope.

    With `org`, the transaction is also scoped to that org, so its tenant policies admit its rows.
    """
    settings = {"app.platform_scope": "on", "app.user_id": str(uuid.UUID(str(user_id)))}
    if org is not None:
        settings["app.org_id"] = str(org)
    with source.platform_pool(location).connection() as conn, conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        for statement in scoped_settings(settings):
            conn.execute(statement)
        return conn.cursor(row_factory=dict_row).execute(sql.SQL(query), dict(params)).fetchall()
