"""The connection registry: every connection to a datasource, for every org, comes from here.

`connection(org_id, datasource)` yields an autocommit connection; the caller
(app/db/__init__.py's door) opens the org-scoped transaction on it. What both modes
share is written here and in app/pools/admission.py (the org LRU, eviction,
capacity waits, failure counting and drains): the base pools, the door, and
the counting around every checkout. A mode subclass says only what an org's
Unit is (a pool of its own, or a quota on the shared pool) through four
attributes and two methods: `_build` and `_connect_org`.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg

from app.db import as_org_id
from app.errors.configuration import ConfigurationError
from app.pools.admission import Admission
from app.pools.config import PoolConfig
from app.pools.metrics import Stats, statements_of
from app.pools.snapshot import build_snapshot
from app.pools.units import Unit, application_name, make_pool, pooled


class PoolRegistry:
    """Base pools per datasource plus admission; see DedicatedRegistry and SharedRegistry."""

    mode = "base"
    retire_on_drain = False  # close the unit's pool after drainThreshold consecutive failures
    base_what = "the base pool of datasource {datasource!r}"  # named in a 503 when it has no connection free
    base_hint = "raise pool.base.maxConnections (ATLAS_POOL_MAX_SIZE) or pool.timeoutMs (ATLAS_POOL_TIMEOUT_S)"

    def __init__(self, config: PoolConfig) -> None:
        self.config = config
        self.limits = config.per_org
        self.opened = False
        self._base = {ds: self._make_base(ds, url) for ds, url in config.datasources.items()}
        self.admission = Admission(config, base=self._base.values(), reserve=self._unit_reserve(),
                                   retire_on_drain=self.retire_on_drain)

    # ----- what a mode decides -------------------------------------------------------------
    def _base_size(self) -> int:
        """Connections each datasource's base pool may open."""
        return self.config.base_max_connections

    def _unit_reserve(self) -> int:
        """Connections a new org unit adds to the reserved total."""
        raise NotImplementedError

    def _build(self, unit: Unit, deadline: float) -> None:
        """Make a new org unit usable (outside the lock)."""
        raise NotImplementedError

    def _connect_org(self, unit: Unit, *, deadline: float) -> AbstractContextManager[psycopg.Connection]:
        """A connection for an admitted org unit."""
        raise NotImplementedError

    # ----- what both modes share -----------------------------------------------------------
    def _make_base(self, datasource: str, url: str) -> Unit:
        size = self._base_size()
        unit = Unit(None, datasource, Stats(), reserved=size, generation=0, limit=size)
        unit.pool = make_pool(
            url, name=application_name(None, datasource), min_size=min(self.config.base_min_connections, size),
            max_size=size, timeout_s=self.config.timeout_s, max_idle_s=self.config.idle_s, num_workers=2)
        unit.built.set()
        return unit

    def _from_base(self, datasource: str, *, deadline: float) -> AbstractContextManager[psycopg.Connection]:
        """A connection from the datasource's base pool, or a 503 naming the setting to raise."""
        base = self._base[datasource]
        assert base.pool is not None
        return pooled(base.pool, deadline=deadline, what=self.base_what.format(datasource=datasource),
                      hint=self.base_hint)

    def _connect(self, unit: Unit, *, deadline: float) -> AbstractContextManager[psycopg.Connection]:
        if unit.org_id is None:
            return self._from_base(unit.datasource, deadline=deadline)
        if unit.external:
            assert unit.pool is not None
            return pooled(unit.pool, deadline=deadline,
                          what=f"the pool of org {unit.org_id}'s {unit.datasource}",
                          hint="raise pool.orgDatasources.maxConnections or pool.timeoutMs (ATLAS_POOL_TIMEOUT_S)")
        return self._connect_org(unit, deadline=deadline)

    # ----- lifecycle -----------------------------------------------------------------------
    def open(self, *, warmup: bool = True) -> PoolRegistry:
        """Open the base pools; with warmup, probe each (pool.perOrg.warmupProbes times)."""
        probes = self.limits.warmup_probes if (warmup and self.limits) else 0
        self.opened = True
        for unit in self._base.values():
            assert unit.pool is not None
            unit.pool.open(wait=False)
            for _ in range(probes):
                with unit.pool.connection() as conn:
                    conn.execute("SELECT 1")
        return self

    def close(self) -> None:
        for unit in [*self.admission.take_all(), *self._base.values()]:
            if unit.pool is not None:
                unit.pool.close()

    def __enter__(self) -> PoolRegistry:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- the door ------------------------------------------------------------------------
    @contextmanager
    def connection(self, org_id: object, datasource: str = "default") -> Iterator[psycopg.Connection]:
        """An autocommit connection for one org; open the org-scoped transaction on it.

        Raises MissingOrgError (no valid org, before any I/O), PoolCapacityExceededError
        (no org slot or capacity free in time) or ServiceUnavailableError (no connection in time).
        """
        org = as_org_id(org_id)
        base = self._base_for(datasource)
        if self.limits is None:  # without pool.perOrg every org shares the base pool
            with self.base_connection(datasource) as conn:
                yield conn
            return
        deadline = time.monotonic() + self.config.timeout_s
        unit = self.admission.admit(org, base.datasource, deadline, build=self._build)
        with self._use(unit, deadline) as conn:
            yield conn

    @contextmanager
    def org_datasource_connection(self, org_id: object, name: str, *, source: str,
                                  connect: Callable[[float], str]) -> Iterator[psycopg.Connection]:
        """An autocommit connection to one of the org's own datasources (app/connections).

        Each (org, connection) gets a pool of its own of pool.orgDatasources.maxConnections,
        in every mode, reserved against maxTotalConnections and admitted through the same
        org LRU. `source` names what the pool connects to (id and version): a change retires
        the old pool. `connect(deadline)` checks the datasource and returns its conninfo; it
        runs only when a pool is built. Raises as `connection`, or ConnectionFailedError.
        """
        org = as_org_id(org_id)
        deadline = time.monotonic() + self.config.timeout_s
        size = self.config.org_datasource_max_connections
        unit = self.admission.admit(org, f"connection:{name}", deadline, external=(source, size),
                                    build=lambda u, d: self._build_external(u, d, connect))
        with self._use(unit, deadline) as conn:
            yield conn

    def retire_org_datasource(self, org_id: object, name: str) -> None:
        """Close this process's pool of an org connection that was edited or deleted (others retire it
        on next use, by its source, or when it idles out)."""
        self.admission.retire(as_org_id(org_id), f"connection:{name}")

    def _build_external(self, unit: Unit, deadline: float, connect: Callable[[float], str]) -> None:
        conninfo = connect(deadline)
        pool = make_pool(conninfo, name=application_name(unit.org_id, unit.datasource), min_size=0,
                         max_size=unit.limit, timeout_s=self.config.timeout_s, max_idle_s=self.config.idle_s,
                         num_workers=1)
        pool.open(wait=False)
        unit.pool = pool

    @contextmanager
    def base_connection(self, datasource: str = "default") -> Iterator[psycopg.Connection]:
        """A connection from the base pool, for work with no org (sign-in, session lookup)."""
        unit = self._base_for(datasource)
        self.admission.hold(unit)
        with self._use(unit, time.monotonic() + self.config.timeout_s) as conn:
            yield conn

    def _base_for(self, datasource: str) -> Unit:
        try:
            return self._base[datasource]
        except KeyError:
            raise ConfigurationError(
                f"unknown datasource {datasource!r}; configured: {', '.join(sorted(self._base))}"
                " (datasources in atlas.yaml)") from None

    @contextmanager
    def _use(self, unit: Unit, deadline: float) -> Iterator[psycopg.Connection]:
        """Check a connection out of a held unit; record the outcome; release the unit."""
        error: BaseException | None = None
        broken = False
        try:
            with self._connect(unit, deadline=deadline) as conn:
                before = statements_of(conn)
                self.admission.lent(unit)
                try:
                    yield conn
                finally:
                    broken = conn.broken
                    self.admission.returned(unit, statements=statements_of(conn) - before)
        except BaseException as exc:
            error = exc
            raise
        finally:
            self.admission.release(unit, error, broken=broken)

    def base_units(self) -> list[Unit]:
        return list(self._base.values())

    def snapshot(self, org_id: object = None) -> dict[str, Any]:
        """JSON-able metrics: every org (org_id=None) or one org's units plus base-pool totals."""
        return build_snapshot(self, None if org_id is None else as_org_id(org_id))
