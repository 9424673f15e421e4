"""Agent SQL for one caller: the org's limits, its semantic layer's tables, the cache, the audit trail.

The HTTP view (app/api/query_routes.py) is one client; the MCP server and the
job worker will be others. `run(caller, sql, connection_id=)` does everything a caller needs:
the org's settings, its rate (429 before any work), the gateway on the agent
role's own small pool (one connection per agent thread share of the worker,
opened on first use), and an audit entry for every answer and every refusal
(with the SQL text). Refusals for rate or concurrency (429, 503) are not
audited: that would let a flood write.

The connection is chosen here, so every client gets the same choice: the
default is Atlas's own CRM data (agent role, org predicate, RLS); any other id
is one of the caller's org connections (app/connections), looked up under RLS,
queried through its own pool with the org predicate off and every other limit
on: read-only transaction, function allowlist, that connection's semantic
tables, timeouts, row and byte limits, the in-flight limit, cache keys of its own.
"""
from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace

import psycopg
from psycopg_pool import PoolTimeout

from app import audit, org_settings
from app.auth.identity import Identity
from app.cache import QueryCache
from app.config import QueryLimitSettings
from app.connections import DEFAULT, Connections, Resolved
from app.db import Database
from app.db.checked_pool import CheckedPool, wait_timed_out
from app.errors import NotFoundError, ValidationError
from app.errors.query import SqlInvalidError, SqlRejectedError
from app.gateway import QueryResult, run_query
from app.limits.inflight import InflightLimiter
from app.limits.ratelimit import RateLimiter
from app.org_settings import InflightBounds, OrgSettings, RateBounds
from app.placement import PlacedSource
from app.pools import PoolConfig
from app.query_settings import QueryBounds, QuerySettings
from app.replica import AgentReplica
from app.semantic import SemanticLayer

CONNECTION_ID = DEFAULT  # Atlas's own data; part of every cache key (an org connection's: "<id>@<version>")
AUDITED_SQL_CHARS = 100_000  # the gateway's own size limit; longer input is kept truncated
Refusal = SqlRejectedError | SqlInvalidError | ValidationError | NotFoundError
_CONNECTION_ID = re.compile(r"[a-z][a-z0-9_-]{0,39}")


@dataclass(frozen=True)
class Caller:
    """Who runs the query: the org it runs in, the user it is audited to, the role in its cache key."""

    org_id: uuid.UUID
    user_id: uuid.UUID | None
    role: str


def caller_of(ident: Identity) -> Caller:
    """The session as a query caller (member_required guarantees its org and role)."""
    assert ident.org_id is not None
    return Caller(org_id=ident.org_id, user_id=ident.user_id, role=str(ident.role))


@dataclass(frozen=True)
class QueryLimits:
    """Platform defaults and bounds for agent queries (what an org's settings may choose within)."""

    base: QuerySettings = field(default_factory=QuerySettings)
    bounds: QueryBounds = field(default_factory=QueryBounds)
    rate: RateBounds = field(default_factory=RateBounds)
    inflight_bounds: InflightBounds = field(default_factory=InflightBounds)
    per_org_connections: int | None = None  # pool.perOrg.maxConnections, when per-org pools are on

    @classmethod
    def from_settings(cls, settings: QueryLimitSettings, *, pools: PoolConfig) -> QueryLimits:
        inflight = InflightBounds()
        default = min(max(settings.max_in_flight, inflight.minimum), inflight.maximum)
        return cls(base=QuerySettings(result_max_bytes=settings.result_max_bytes,
                                      max_value_bytes=settings.max_value_bytes),
                   rate=RateBounds(per_minute_default=settings.rate_per_minute),
                   inflight_bounds=replace(inflight, default=default),
                   per_org_connections=pools.per_org.max_connections if pools.per_org is not None else None)

    def max_in_flight(self, settings: OrgSettings) -> int:
        """The org's setting; with per-org pools on, never more than its connection quota."""
        limit = settings.max_in_flight(inflight=self.inflight_bounds)
        return min(limit, self.per_org_connections) if self.per_org_connections else limit


class QueryService:
    """Runs agent SQL for callers; owns the agent pool (opened on first use, closed by close())."""

    def __init__(self, *, db: Database, semantic: SemanticLayer, cache: QueryCache | None, limiter: RateLimiter,
                 inflight: InflightLimiter, limits: QueryLimits, agent_url: str, agent_pool_timeout_s: float,
                 connections: Connections | None = None, placement: PlacedSource | None = None,
                 replica: AgentReplica | None = None) -> None:
        self.db, self.semantic, self.cache, self.limiter = db, semantic, cache, limiter
        self.replica = replica  # the shared database's hot standby for agent SQL (app/replica.py); None: primary
        self.connections = connections  # orgs' own datasources; None: only Atlas's data
        self.placement = placement  # an org in a dedicated database is queried there
        self.inflight, self.limits = inflight, limits
        self._agent_url, self._agent_pool_timeout_s = agent_url, agent_pool_timeout_s
        self._pool: CheckedPool | None = None
        self._lock = threading.Lock()

    def run(self, caller: Caller, sql_text: object, *, connection_id: object = None) -> QueryResult:
        """Admit, answer and audit; 429 rate_limited, 400 sql_rejected / sql_invalid / query_timeout,
        404 for a connection id the caller's org does not have."""
        return self.answer(caller, sql_text, self.admit(caller), connection_id=connection_id)

    def admit(self, caller: Caller) -> OrgSettings:
        """The org's settings, after taking one of its rate tokens (429 rate_limited, not audited).

        An org this process just found at its in-flight limit, and still at it, is refused first
        (429 too_many_concurrent_queries, one lock-table count, app/limits/inflight.py): a flood's
        excess costs the primary one round trip past the session check, not four.
        """
        refused = self.inflight.recent_refusal(caller.org_id)
        if refused is not None:
            raise refused
        settings = org_settings.load(self.db, caller.org_id)
        self.limiter.take(str(caller.org_id), per_minute=settings.rate_per_minute(rate=self.limits.rate))
        return settings

    def answer(self, caller: Caller, sql_text: object, settings: OrgSettings, *,
               connection_id: object = None) -> QueryResult:
        """Run an admitted query on the chosen connection; its answer or refusal goes to the org's audit trail."""
        chosen = CONNECTION_ID if connection_id is None else connection_id
        try:
            if not isinstance(sql_text, str):
                raise ValidationError("sql must be a string holding one SELECT statement",
                                      details={"fields": {"sql": "must be a string"}})
            result = self._run(caller, sql_text, settings, _checked_connection_id(chosen))
        except (SqlRejectedError, SqlInvalidError, ValidationError, NotFoundError) as exc:  # timeouts too
            self.audit_refusal(caller, sql_text, exc, connection_id=chosen)
            raise
        detail = {"sql": _audited_sql(sql_text), "rowCount": result.row_count, "truncated": result.truncated,
                  "cached": result.cached, "truncatedReason": result.truncated_reason}
        if chosen != CONNECTION_ID:
            detail["connectionId"] = chosen
        with self.db.transaction(caller.org_id, user_id=caller.user_id) as scope:
            audit.record(scope, action="query.run", entity="query", actor_user_id=caller.user_id, detail=detail)
        return result

    def audit_refusal(self, caller: Caller, sql_text: object, error: Exception, *,
                      connection_id: object = None) -> None:
        detail = {"sql": _audited_sql(sql_text), "code": getattr(error, "code", "error"),
                  "message": getattr(error, "message", str(error))}
        if isinstance(sql_text, str) and len(sql_text) > AUDITED_SQL_CHARS:
            detail["sqlChars"] = len(sql_text)
        if connection_id is not None and connection_id != CONNECTION_ID:
            detail["connectionId"] = str(connection_id)[:80]
        audit.record_refusal(self.db, org_id=caller.org_id, action="query.refused", entity="query",
                             actor_user_id=caller.user_id, detail=detail)

    def _run(self, caller: Caller, sql_text: str, settings: OrgSettings, connection_id: str) -> QueryResult:
        resolved = self._resolve(caller, connection_id)
        # One manifest read gives the version and decides the tables (read after it when they
        # changed): a result computed under tables newer than the version in its key is harmless.
        semantic_version, tables = self.semantic.versioned_tables(caller.org_id, connection_id)
        limits = replace(settings.query_settings(base=self.limits.base, bounds=self.limits.bounds),
                         allowed_tables=tuple(sorted(tables)))
        in_flight = self.limits.max_in_flight(settings)
        return run_query(
            sql_text, org_id=caller.org_id, settings=limits, cache=self.cache,
            connect=self._connector(caller.org_id, in_flight, resolved),
            connection_id=CONNECTION_ID if resolved is None else resolved.source,
            claims=(("role", caller.role),),
            config_version=f"semantic:{semantic_version}|settings:{settings.version}",
            org_predicate=resolved is None,
        )

    def _resolve(self, caller: Caller, connection_id: str) -> Resolved | None:
        """None for Atlas's own data; else the caller's org connection (404 for any other org's id)."""
        if connection_id == CONNECTION_ID:
            return None
        if self.connections is None:
            raise NotFoundError(f"this organization has no connection named {connection_id!r}")
        return self.connections.resolve(caller.org_id, connection_id)

    def _connector(self, org_id: uuid.UUID, limit: int,
                   resolved: Resolved | None = None) -> Callable[[], AbstractContextManager[psycopg.Connection]]:
        """What run_query calls on a cache miss: an in-flight slot first (refused at once), then a connection."""
        @contextmanager
        def connect() -> Iterator[psycopg.Connection]:
            with self.inflight.slot(org_id, limit=limit):
                if resolved is not None:
                    assert self.connections is not None
                    with self.connections.open_for_query(org_id, resolved) as conn:
                        yield conn
                    return
                placed = self.placement.agent_pool(org_id) if self.placement is not None else None
                if placed is None and self.replica is not None:  # the replica is the shared database's
                    with self.replica.connector(lambda: _borrowed(self.agent_pool())) as conn:
                        yield conn
                    return
                with _borrowed(placed or self.agent_pool()) as conn:
                    yield conn
        return connect

    def agent_pool(self) -> CheckedPool:
        """Opened on first use: an app that never answers a query never connects as the agent."""
        with self._lock:
            if self._pool is None:
                # One connection per agent thread share: a query that passed the
                # in-flight gate never waits for a connection.
                self._pool = CheckedPool(
                    self._agent_url, min_size=0, max_size=self.inflight.process_threads,
                    kwargs={"autocommit": True}, timeout=self._agent_pool_timeout_s, open=False,
                    name="atlas-agent", prepared_statements=self.db.wire.named,
                )
                self._pool.open(wait=False)
            return self._pool

    def close(self) -> None:
        """Close the agent pools if they were opened (the cache and in-flight limiter are closed by their owner)."""
        if self.replica is not None:
            self.replica.close()
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


@contextmanager
def _borrowed(pool: CheckedPool) -> Iterator[psycopg.Connection]:
    """A connection of an agent pool; a wait that times out is a 503 saying why."""
    try:
        conn = pool.getconn()
    except PoolTimeout as exc:
        raise wait_timed_out(pool, waited_s=pool.timeout, what="the agent pool",
                             hint="raise ATLAS_AGENT_THREADS_PER_WORKER or ATLAS_POOL_TIMEOUT_S") from exc
    try:
        yield conn
    finally:
        pool.putconn(conn)


def _audited_sql(sql_text: object) -> object:
    if isinstance(sql_text, str) and len(sql_text) > AUDITED_SQL_CHARS:
        return sql_text[:AUDITED_SQL_CHARS]
    return sql_text if isinstance(sql_text, (str, type(None))) else repr(sql_text)[:1000]


def _checked_connection_id(value: object) -> str:
    """"default" or an org connection id; anything else is a 400 naming the field."""
    if isinstance(value, str) and (value == CONNECTION_ID or _CONNECTION_ID.fullmatch(value)):
        return value
    raise ValidationError("connectionId must be \"default\" or the id of one of the org's connections",
                          details={"fields": {"connectionId": "must be a connection id"}})
