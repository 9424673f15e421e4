"""Agent SQL over HTTP: POST /api/v1/query and the query cache flush.

The gateway (app/gateway) does the work; this module decides *for whom*: the
session's org, its semantic layer's tables, its settings (row limit, timeout,
rate, queries in flight), and the cache key parts that follow from them.
Queries run as the agent role on a small pool of its own, one connection per
agent thread share of the worker; a cache miss first takes an in-flight slot
(app/inflight.py), which refuses at once instead of queueing. Every refusal is
audited with the SQL text; every answered query is audited too (platform stats
count entity 'query'). Requests refused for rate or concurrency (429, 503) are
not audited: that would let a flood write.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace

import psycopg
from flask import Blueprint, Flask, current_app, g
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from psycopg.types.json import Jsonb
from psycopg_pool import PoolTimeout

from app import audit, org_settings
from app.api import get_db, json_body
from app.api.semantic_routes import get_layer
from app.bodies import body
from app.bodies.requests import FlushCache, RunQuery
from app.cache import CacheConfig, QueryCache, RedisCache, make_cache
from app.checked_pool import CheckedPool, wait_timed_out
from app.errors import (
    ForbiddenError,
    QueryTimeoutError,
    SqlInvalidError,
    SqlRejectedError,
    ValidationError,
)
from app.gateway import QueryResult, run_query
from app.inflight import InflightLimiter
from app.org_settings import InflightBounds, RateBounds
from app.permissions import login_required, member_required
from app.query_settings import QueryBounds, QuerySettings
from app.ratelimit import PostgresRateLimiter, RateLimiter, RedisFirstRateLimiter, RedisRateLimiter

bp = Blueprint("query", __name__, url_prefix="/api/v1")
EXTENSION = "atlas_query"
CONNECTION_ID = "default"  # one datasource today; part of every cache key
AUDITED_SQL_CHARS = 100_000  # the gateway's own size limit; longer input is kept truncated


@dataclass
class QueryState:
    """Per-app query machinery, at app.extensions["atlas_query"]."""

    agent_url: str
    cache: QueryCache | None
    limiter: RateLimiter
    inflight: InflightLimiter
    base: QuerySettings = field(default_factory=QuerySettings)
    bounds: QueryBounds = field(default_factory=QueryBounds)
    rate: RateBounds = field(default_factory=RateBounds)
    inflight_bounds: InflightBounds = field(default_factory=InflightBounds)
    per_org_connections: int | None = None  # pool.perOrg.maxConnections, when per-org pools are on
    agent_pool_timeout_s: float = 10.0
    _pool: CheckedPool | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def agent_pool(self) -> CheckedPool:
        """Opened on first use: an app that never answers a query never connects as the agent."""
        with self._lock:
            if self._pool is None:
                # One connection per agent thread share: a query that passed the
                # in-flight gate never waits for a connection.
                self._pool = CheckedPool(
                    self.agent_url, min_size=0, max_size=self.inflight.process_threads,
                    kwargs={"autocommit": True}, timeout=self.agent_pool_timeout_s, open=False,
                    name="atlas-agent",
                )
                self._pool.open(wait=False)
            return self._pool

    def max_in_flight(self, settings: org_settings.OrgSettings) -> int:
        """The org's setting; with per-org pools on, never more than its connection quota."""
        limit = settings.max_in_flight(inflight=self.inflight_bounds)
        return min(limit, self.per_org_connections) if self.per_org_connections else limit

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
        self.inflight.close()
        if self.cache is not None:
            self.cache.close()


@bp.record_once
def _attach(state: BlueprintSetupState) -> None:
    app = state.app
    config = CacheConfig.from_config(app.config)  # Settings.from_env put ATLAS_CACHE_* there
    cache = make_cache(config)
    # Shared by every worker: PostgreSQL decides; with Redis, Redis refuses floods first.
    limiter: RateLimiter = PostgresRateLimiter(app.extensions["atlas"].db)
    if config.backend == "redis":
        assert isinstance(cache, RedisCache)
        limiter = RedisFirstRateLimiter(RedisRateLimiter(cache.link, key_prefix=config.key_prefix), limiter)
    rate = RateBounds(per_minute_default=int(app.config.get("QUERY_RATE_PER_MINUTE", 60)))
    settings = app.config["ATLAS_SETTINGS"]
    inflight_bounds = InflightBounds()
    inflight_bounds = replace(inflight_bounds, default=min(max(settings.query_max_in_flight, inflight_bounds.minimum),
                                                           inflight_bounds.maximum))
    per_org = app.extensions["atlas_pools"].config.per_org
    app.extensions[EXTENSION] = QueryState(
        agent_url=settings.agent_database_url, cache=cache, limiter=limiter, rate=rate,
        inflight=InflightLimiter(settings.app_database_url, process_threads=settings.agent_threads_per_worker),
        base=QuerySettings(result_max_bytes=settings.query_result_max_bytes),
        inflight_bounds=inflight_bounds,
        per_org_connections=per_org.max_connections if per_org is not None else None,
        agent_pool_timeout_s=settings.pool_timeout_s,
    )


def query_state(app: Flask | None = None) -> QueryState:
    return (app or current_app).extensions[EXTENSION]


def close(app: Flask) -> None:
    """Close the agent pool and the cache client (tests call this through close_app)."""
    state = app.extensions.pop(EXTENSION, None)
    if state is not None:
        state.close()


def _agent_connection(state: QueryState, org_id: object, limit: int) -> Callable[[], AbstractContextManager]:
    """What run_query calls on a cache miss: an in-flight slot first (refused at once), then a connection."""
    @contextmanager
    def connect() -> Iterator[psycopg.Connection]:
        with state.inflight.slot(org_id, limit=limit):
            pool = state.agent_pool()
            try:
                conn = pool.getconn()
            except PoolTimeout as exc:
                raise wait_timed_out(pool, waited_s=pool.timeout, what="the agent pool",
                                     hint="raise ATLAS_AGENT_THREADS_PER_WORKER or ATLAS_POOL_TIMEOUT_S") from exc
            try:
                yield conn
            finally:
                pool.putconn(conn)
    return connect


def _run(sql_text: str, state: QueryState, settings: org_settings.OrgSettings) -> QueryResult:
    ident = g.identity
    layer = get_layer()
    # The version is read before the tables: a result computed under tables newer than
    # the version in its key is harmless; the other order could outlive a change.
    semantic_version = layer.version(ident.org_id)
    tables = layer.allowed_tables(ident.org_id)
    limits = replace(settings.query_settings(base=state.base, bounds=state.bounds),
                     allowed_tables=tuple(sorted(tables)))
    return run_query(
        sql_text, org_id=ident.org_id, settings=limits, cache=state.cache,
        connect=_agent_connection(state, ident.org_id, state.max_in_flight(settings)),
        connection_id=CONNECTION_ID, claims=(("role", str(ident.role)),),
        config_version=f"semantic:{semantic_version}|settings:{settings.version}",
    )


def _as_timeout(exc: SqlRejectedError | SqlInvalidError | ValidationError) -> Exception:
    """The gateway reports a statement timeout as a rejection caused by QueryCanceled."""
    if (isinstance(exc, SqlRejectedError) and not isinstance(exc, QueryTimeoutError)
            and isinstance(exc.__cause__, psycopg.errors.QueryCanceled)):
        return QueryTimeoutError(exc.message)
    return exc


@bp.post("/query")
@member_required
def query() -> ResponseReturnValue:
    """Run agent SQL for the session's org; 400 sql_rejected / sql_invalid / query_timeout, 429 rate_limited."""
    ident = g.identity
    state = query_state()
    settings = org_settings.load(get_db(), ident.org_id)
    state.limiter.take(str(ident.org_id), per_minute=settings.rate_per_minute(rate=state.rate))
    sql_text: object = None
    try:
        sql_text = json_body().get("sql")  # audited as sent, even when refused
        sql_text = body(RunQuery).sql
        result = _run(sql_text, state, settings)
    except (SqlRejectedError, SqlInvalidError, ValidationError) as exc:
        error = _as_timeout(exc)
        _audit_refusal(sql_text, error)
        if error is exc:
            raise
        raise error from exc
    with get_db().transaction(ident.org_id, user_id=ident.user_id) as scope:
        audit.record(scope, action="query.run", entity="query", detail={
            "sql": _audited_sql(sql_text), "rowCount": result.row_count, "truncated": result.truncated,
            "cached": result.cached, "truncatedReason": result.truncated_reason})
    return result.to_json()


def _audited_sql(sql_text: object) -> object:
    if isinstance(sql_text, str) and len(sql_text) > AUDITED_SQL_CHARS:
        return sql_text[:AUDITED_SQL_CHARS]
    return sql_text if isinstance(sql_text, (str, type(None))) else repr(sql_text)[:1000]


def _audit_refusal(sql_text: object, error: Exception) -> None:
    ident = g.identity
    detail = {"sql": _audited_sql(sql_text), "code": getattr(error, "code", "error"),
              "message": getattr(error, "message", str(error))}
    if isinstance(sql_text, str) and len(sql_text) > AUDITED_SQL_CHARS:
        detail["sqlChars"] = len(sql_text)
    audit.record_refusal(get_db(), org_id=ident.org_id, action="query.refused", entity="query", detail=detail)


@bp.post("/admin/cache/flush")
@login_required
def flush_cache() -> ResponseReturnValue:
    """`{"scope": "organization"}` (default; org admins and owners) or `{"scope": "all"}` (platform admins)."""
    ident = g.identity
    scope = body(FlushCache).scope
    cache = query_state().cache
    if scope == "all":
        if ident.platform_role != "admin":
            raise ForbiddenError("only platform administrators may flush every organization's cache")
        return {"scope": "all", "flushed": _flush_all_audited(cache)}
    if ident.org_id is None:
        raise ForbiddenError("no active organization: call POST /api/auth/organization/set-active first")
    if ident.role not in ("admin", "owner"):
        raise ForbiddenError("only admin or owner may flush the organization's query cache")
    flushed = cache.flush_org(str(ident.org_id)) if cache is not None else 0
    with get_db().transaction(ident.org_id, user_id=ident.user_id) as tx:
        audit.record(tx, action="query_cache.flush", entity="query_cache", detail={"flushed": flushed})
    return {"scope": "organization", "flushed": flushed}


def _flush_all_audited(cache: QueryCache | None) -> int:
    """Flush inside a platform transaction: it re-checks in SQL that the caller is a platform admin."""
    from app.api.platform_admin import platform_db

    with platform_db().platform_transaction(user_id=g.identity.user_id) as tx:
        flushed = cache.flush_all() if cache is not None else 0
        tx.execute(
            "INSERT INTO platform_audit (actor_user_id, action, target_org_id, request_id, detail)"
            " VALUES (app.current_user_id(), 'query_cache.flush_all', NULL, %s, %s)",
            (g.get("request_id"), Jsonb({"flushed": flushed})),
        )
    return flushed
