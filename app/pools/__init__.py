"""Connection pools per (org, datasource): LRU-bounded, capped, drained, measured.

`create_registry(config)` returns the registry for `config.mode`:
`DedicatedRegistry` (a psycopg_pool per org) or `SharedRegistry` (one pool per
datasource, per-org quotas). Both take the same settings, raise the same errors
(PoolCapacityExceededError, ServiceUnavailableError) and report the same
metrics. See docs/pools.md.
"""
from __future__ import annotations

from app.pools.config import DEFAULT_MODE, MODES, PerOrgLimits, PoolConfig
from app.pools.dedicated import DedicatedRegistry
from app.pools.registry import PoolRegistry
from app.pools.shared import SharedRegistry

__all__ = [
    "DEFAULT_MODE", "MODES", "DedicatedRegistry", "PerOrgLimits", "PoolConfig", "PoolRegistry",
    "SharedRegistry", "create_registry",
]


def create_registry(config: PoolConfig) -> PoolRegistry:
    """An unopened registry for config.mode; call .open() (or use it as a context manager)."""
    registry_class = DedicatedRegistry if config.mode == "dedicated" else SharedRegistry
    return registry_class(config)
