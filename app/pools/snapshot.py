"""The registry's state as JSON-able dicts, for GET /api/v1/admin/connections.

A platform admin sees every org and the shared pools' traffic. An org admin
sees only numbers that its own org moves: its units (also after eviction, from
the retained counters), totals over those units, and of each shared base pool
only its configured size. The base pools' counters and the registry-wide totals
rise with every org's traffic, so they are for platform admins alone.
"""
from __future__ import annotations

import uuid
from typing import Any, Protocol

from app.pools.admission import Admission
from app.pools.config import PoolConfig, describe
from app.pools.metrics import pool_figures
from app.pools.units import Unit


class Snapshotted(Protocol):
    """What a snapshot reads of the registry (app/pools/registry.py), which calls build_snapshot."""

    @property
    def admission(self) -> Admission: ...
    @property
    def mode(self) -> str: ...
    @property
    def limits(self) -> object: ...
    @property
    def config(self) -> PoolConfig: ...

    def base_units(self) -> list[Unit]: ...


def build_snapshot(registry: Snapshotted, org: uuid.UUID | None) -> dict[str, Any]:
    admission = registry.admission
    with admission.lock:
        lru = admission.lru
        live = [(u, "live") for u in lru.live_units()]
        units = live + [(u, "retiring") for u in lru.retiring]
        rows = [_unit_row(u, state) for u, state in units if org is None or u.org_id == org]
        if org is not None:
            shown = {row["datasource"] for row in rows}
            rows += [
                _history_row(key[0], key[1], stats.as_dict())
                for key, stats in admission.history.items()
                if key[0] == org and key[1] not in shown
            ]
        base = [_base_row(u) for u in registry.base_units()]
        opened = admission.opened_by_closed + sum(
            pool_figures(u.pool)["connections_opened"] for u, _ in units if u.pool is not None
        ) + sum(b["connections_opened"] for b in base)
        totals = {
            "orgs": len(lru.entries),
            "org_units": len(live),
            "reserved_connections": lru.reserved,
            "open_connections": sum(b["open_connections"] for b in base) + sum(
                pool_figures(u.pool)["size"] for u, _ in units if u.pool is not None),
            "capacity_waiting": admission.capacity_waiters,
            "org_units_created": lru.units_created,
            "evictions": lru.evictions,
            "capacity_errors": admission.capacity_errors,
            "connections_opened": opened,
            "drains": len(admission.drains),
        }
        drains = [d for d in admission.drains if org is None or d["org_id"] == str(org)]
    if org is not None:  # nothing another org's traffic could move
        totals = {"reserved_connections": sum(u.reserved for u, state in units
                                              if u.org_id == org and state == "live"),
                  "open_connections": sum(row["open_connections"] for row in rows if row["state"] != "evicted")}
        base = [{"datasource": b["datasource"], "max_connections": b["max_connections"]} for b in base]
    return {
        "mode": registry.mode,
        "per_org": registry.limits is not None,
        "limits": describe(registry.config),
        "totals": totals,
        "base": base,
        "orgs": rows,
        "drains": drains,
    }


def _unit_row(unit: Unit, state: str) -> dict[str, Any]:
    figures = pool_figures(unit.pool)
    dedicated = unit.pool is not None
    return {
        "org_id": str(unit.org_id),
        "datasource": unit.datasource,
        "state": state,
        "generation": unit.generation,
        "max_connections": unit.limit,
        "active": unit.active,
        "idle": figures["idle"] if dedicated else None,
        "waiting": max(unit.holders - unit.active, 0),
        "open_connections": figures["size"] if dedicated else unit.active,
        **unit.stats.as_dict(),
        "connections_opened": unit.stats.connections_opened + figures["connections_opened"],
    }


def _history_row(org: uuid.UUID, datasource: str, stats: dict[str, Any]) -> dict[str, Any]:
    return {"org_id": str(org), "datasource": datasource, "state": "evicted", "active": 0,
            "idle": 0, "waiting": 0, "open_connections": 0, **stats}


def _base_row(unit: Unit) -> dict[str, Any]:
    figures = pool_figures(unit.pool)
    return {
        "datasource": unit.datasource,
        "max_connections": unit.limit,
        "active": unit.active,
        "idle": figures["idle"],
        "waiting": figures["pool_waiting"],
        "open_connections": figures["size"],
        "connections_opened": figures["connections_opened"],
        **{k: v for k, v in unit.stats.as_dict().items() if k not in ("evictions", "pools_created", "drains")},
    }
