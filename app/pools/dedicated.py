"""`dedicated` mode: a psycopg_pool per (org, datasource), as the reference design describes.

Isolation is physical: an org can hold at most pool.perOrg.maxConnections
connections because its pool has no more. The cost is churn: every org that
falls out of the LRU takes its connections with it, and its next request pays
for new ones plus the warmup probes.
"""
from __future__ import annotations

import time
from contextlib import AbstractContextManager

import psycopg
from psycopg_pool import PoolTimeout

from app.db.checked_pool import wait_timed_out
from app.pools.registry import PoolRegistry
from app.pools.units import Unit, application_name, make_pool, pooled


class DedicatedRegistry(PoolRegistry):
    """Org pools are created lazily, warmed up, evicted LRU and closed when drained."""

    mode = "dedicated"
    retire_on_drain = True

    def _unit_reserve(self) -> int:
        return self.limits.max_connections if self.limits else 0

    def _build(self, unit: Unit, deadline: float) -> None:
        """Open the org's pool (no connection kept when idle) and run the warmup probes on it."""
        assert self.limits is not None and unit.org_id is not None
        pool = make_pool(
            self.config.datasources[unit.datasource],
            name=application_name(unit.org_id, unit.datasource), min_size=0,
            max_size=self.limits.max_connections, timeout_s=self.config.timeout_s,
            max_idle_s=self.config.idle_s, num_workers=1, max_waiting=self.limits.waiting_limit)
        pool.open(wait=False)
        started = time.monotonic()
        try:
            for _ in range(self.limits.warmup_probes):
                with pool.connection(timeout=max(deadline - time.monotonic(), 0.001)) as conn:
                    conn.execute("SELECT 1")
        except PoolTimeout as exc:
            error = wait_timed_out(pool, waited_s=time.monotonic() - started,
                                   what=f"the new pool of org {unit.org_id}", hint="raise pool.timeoutMs")
            pool.close()
            raise error from exc
        except BaseException:
            pool.close()
            raise
        unit.pool = pool

    def _connect_org(self, unit: Unit, *, deadline: float) -> AbstractContextManager[psycopg.Connection]:
        assert unit.pool is not None
        return pooled(unit.pool, deadline=deadline,
                      what=f"the pool of org {unit.org_id} on datasource {unit.datasource!r}",
                      hint="the org is at pool.perOrg.maxConnections; raise it or pool.timeoutMs (ATLAS_POOL_TIMEOUT_S)")
