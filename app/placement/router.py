"""The door's connection source with placement: each org's transactions go to the org's database.

Wraps the per-org pool registry (app/pools). For an org placed in a dedicated
database the connection comes from a small pool of that database, logged in
with the same role (app/placement/locations.py); for every other org, and for
work without an org, the registry answers as before. app/db/__init__.py is unchanged:
it asks its source for a connection with the transaction's org.

An org's placement is read in the shared database (org_placements, in a
transaction scoped to that org) and kept for ATLAS_PLACEMENT_CACHE_S seconds.
A worker that is that stale after a move writes nowhere wrong: the database it
still routes to refuses the org's writes (sql/095_placement.sql), the refusal
is answered 503 with Retry-After, and the cached placement is dropped.

A lookup that decides who may act (an API key, app/auth/api_keys.py) cannot wait
for the cache: `placed_read` reads the placement in the same snapshot as the
rows in the shared database, and reads the dedicated database only when the
org lives there (docs/placement.md: every lookup of a placed table comes here).

Control-plane work (organizations, members, invitations) always runs in the
shared database: the views that do it wrap it in `control_plane()`. When such a
transaction of a dedicated org ends well, the dedicated database's mirror of
the members is refreshed (app/placement/mirror.py).
"""
from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar, cast

import psycopg

from app.db import ConnectionSource, Row, WireConfig, as_org_id, read_on
from app.db.checked_pool import CheckedPool
from app.errors.database import OrgMovingError
from app.placement import mirror
from app.placement.locations import role_conninfo
from app.pools.metrics import pool_figures

log = logging.getLogger("atlas.placement")

MOVING = "AT503"  # SQLSTATE of the org_hold trigger's refusal (sql/095_placement.sql)
_LOOKUP = "SELECT location FROM org_placements WHERE organization_id = app.current_org()"
# `placed_read`'s statement in the shared database: the org's placement now, and the rows if it lives here.
_FUSED = ("SELECT ({lookup}) AS atlas_location, found.* FROM (SELECT 1) AS one"
          " LEFT JOIN LATERAL (SELECT true AS atlas_found, q.* FROM ({query}) AS q) AS found ON true")
F = TypeVar("F", bound=Callable[..., Any])
_control: ContextVar[bool] = ContextVar("atlas_control_plane", default=False)


@contextmanager
def control_plane() -> Iterator[None]:
    """Inside, org transactions run in the shared database whatever the org's placement."""
    token = _control.set(True)
    try:
        yield
    finally:
        _control.reset(token)


@contextmanager
def off_control_plane() -> Iterator[None]:
    """Inside a control-plane view, org transactions go to the org's own database again.

    For what a control-plane change causes in placed tables (removing a member revokes their
    API keys and cancels their jobs, app/cascades.py).
    """
    token = _control.set(False)
    try:
        yield
    finally:
        _control.reset(token)


def run_on_control_plane(view: F) -> F:
    """The view, run with its org transactions in the shared database (app/http/endpoint_runtime.py applies it)."""
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with control_plane():
            return view(*args, **kwargs)
    return cast(F, wrapped)


def moving_error(exc: psycopg.Error) -> OrgMovingError | None:
    """The 503 for a write the org_hold trigger refused, else None."""
    if exc.sqlstate != MOVING:
        return None
    return OrgMovingError((exc.diag.message_primary or "this organization is being moved") + "")


class PlacedSource:
    """A ConnectionSource: the org's dedicated database when it has one, else `shared`."""

    def __init__(self, shared: ConnectionSource, *, app_url: str, agent_url: str, cache_s: float,
                 pool_max_size: int, agent_pool_max_size: int, timeout_s: float, platform_url: str = "",
                 wire_config: WireConfig | None = None) -> None:
        self.shared = shared
        self.wire = wire_config or WireConfig()  # the door's statement mode and deadline, for the lookups below
        self.app_url, self.agent_url, self.platform_url = app_url, agent_url, platform_url
        self.cache_s = cache_s
        self.pool_max_size, self.agent_pool_max_size, self.timeout_s = pool_max_size, agent_pool_max_size, timeout_s
        self._lock = threading.Lock()
        self._placements: dict[uuid.UUID, tuple[str | None, float]] = {}
        self._pools: dict[tuple[str, str], CheckedPool] = {}

    # ----- ConnectionSource ---------------------------------------------------------------
    def open(self, *, warmup: bool = True) -> Any:
        return self.shared.open(warmup=warmup)

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
        self.shared.close()

    def base_connection(self) -> AbstractContextManager[psycopg.Connection]:
        return self.shared.base_connection()

    @contextmanager
    def connection(self, org_id: object) -> Iterator[psycopg.Connection]:
        """The org's connection; a refused write of a moving org becomes OrgMovingError (503)."""
        org = as_org_id(org_id)
        control = _control.get()
        location = self.location(org)
        try:
            if location is None or control:
                with self.shared.connection(org) as conn:
                    yield conn
            else:
                with self._pool("app", location).connection() as conn:
                    yield conn
        except psycopg.Error as exc:
            refused = moving_error(exc)
            if refused is None:
                raise
            self.forget(org)
            raise refused from exc
        if control and location is not None:
            self._refresh_mirror(org, location)

    # ----- placement ----------------------------------------------------------------------
    def location(self, org: uuid.UUID) -> str | None:
        """The org's dedicated database, or None for the shared one (cached for cache_s)."""
        now = time.monotonic()
        cached = self._placements.get(org)
        if cached is not None and cached[1] > now:
            return cached[0]
        rows = read_on(self.shared.base_connection(), org, _LOOKUP, config=self.wire)
        location = rows[0]["location"] if rows else None
        self._placements[org] = (location, now + self.cache_s)
        return location

    def placed_read(self, org: uuid.UUID, query: str, params: Any = None) -> tuple[str | None, list[Row]]:
        """`query` for `org` where the org lives now, past the placement cache: (its location, the rows).

        One round trip in the shared database reads the placement and, in the same snapshot,
        the rows; only for an org in a dedicated database a second one reads them there. Both on
        connections outside any per-org quota, like a session lookup: text naming an org must not
        spend that org's quota before it is known to be the org's.
        """
        fused = _FUSED.format(lookup=_LOOKUP, query=query)
        rows = read_on(self.shared.base_connection(), org, fused, params, config=self.wire)
        location = rows[0]["atlas_location"] if rows else None
        self._placements[org] = (location, time.monotonic() + self.cache_s)
        if location is None:
            return None, [{k: v for k, v in row.items() if k not in ("atlas_location", "atlas_found")}
                          for row in rows if row["atlas_found"]]
        return location, read_on(self._pool("app", location).connection(), org, query, params, config=self.wire)

    def forget(self, org: uuid.UUID) -> None:
        self._placements.pop(org, None)

    def agent_pool(self, org_id: uuid.UUID) -> CheckedPool | None:
        """The agent role's pool on the org's dedicated database, or None: use the shared agent pool."""
        location = self.location(org_id)
        return None if location is None else self._pool("agent", location)

    def pool_rows(self, org: uuid.UUID | None = None) -> list[dict[str, Any]]:
        """Figures of this process's pools on dedicated databases: every one (with its location, for
        platform admins), or those of `org`'s database (none while it lives in the shared one)."""
        wanted = None if org is None else self.location(org)
        if org is not None and wanted is None:
            return []
        with self._lock:
            pools = sorted(self._pools.items())
        rows = []
        for (role, location), pool in pools:
            if wanted is not None and location != wanted:
                continue
            figures = pool_figures(pool)
            rows.append({"role": role, **({"location": location} if org is None else {}),
                         "max_connections": pool.max_size, "idle": figures["idle"],
                         "waiting": figures["pool_waiting"], "open_connections": figures["size"],
                         "connections_opened": figures["connections_opened"]})
        return rows

    def platform_pool(self, location: str) -> CheckedPool:
        """The platform role's pool on a dedicated database (app/placement/platform_reads.py)."""
        return self._pool("platform", location)

    def _pool(self, role: str, location: str) -> CheckedPool:
        key = (role, location)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                url = {"app": self.app_url, "agent": self.agent_url, "platform": self.platform_url}[role]
                size = {"app": self.pool_max_size, "agent": self.agent_pool_max_size, "platform": 2}[role]
                pool = CheckedPool(role_conninfo(url, location), min_size=0, max_size=size,
                                   timeout=self.timeout_s, kwargs={"autocommit": True},
                                   name=f"atlas-{role}-dedicated", open=False,
                                   prepared_statements=self.wire.named)
                pool.open(wait=False)
                self._pools[key] = pool
        return pool

    def _refresh_mirror(self, org: uuid.UUID, location: str) -> None:
        """After a control-plane change of a dedicated org: its database's members follow."""
        try:
            with self.shared.connection(org) as control, self._pool("app", location).connection() as target:
                mirror.write_members(target, org, mirror.members_of(control, org))
        except (psycopg.Error, OrgMovingError) as exc:  # the next control-plane change or move repairs it
            log.warning("could not refresh the members of org %s in its dedicated database: %s", org, exc)
