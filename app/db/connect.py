"""The one place Atlas opens a connection outside a pool: operator commands, lock and discovery
connections, tenants' own databases, the standby probe.

Each names its purpose, shown as `application_name` in pg_stat_activity ("atlas placement.move"), so an
operator can tell Atlas's connections apart; none waits for an unreachable server longer than
CONNECT_TIMEOUT_S unless its caller says otherwise. Pools are app/db's too (CheckedPool).
"""
from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

CONNECT_TIMEOUT_S = 10


def open_connection(purpose: str, conninfo: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """psycopg.connect(conninfo, **kwargs), labelled `atlas <purpose>` unless the conninfo names itself."""
    return psycopg.connect(conninfo, **_labelled(purpose, conninfo, kwargs))


async def open_async_connection(purpose: str, conninfo: str, **kwargs: Any) -> psycopg.AsyncConnection[Any]:
    """open_connection's asyncio twin (the readiness probe checks every host of a URL at once)."""
    return await psycopg.AsyncConnection.connect(conninfo, **_labelled(purpose, conninfo, kwargs))


def _labelled(purpose: str, conninfo: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    given = conninfo_to_dict(conninfo)
    if "application_name" not in given and "application_name" not in kwargs:
        kwargs["application_name"] = f"atlas {purpose}"[:63]
    if "connect_timeout" not in given:
        kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    return kwargs
