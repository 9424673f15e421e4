"""The app's long-lived services: built once by create_app, closed once by close_app.

`build_services` reads the order of work top to bottom: settings, then the
pools and the org-scoped door, the cache and the limits, the semantic layer,
the query service, the platform door, the sign-in throttle, then readiness and
the pool gauges. Nothing connects here: every pool opens in the background or
on first use, so a down database gives 503s, not a crash at start-up. Views
reach the services through `services()` (app/http/context.py); blueprints build nothing.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.auth import Passwords
from app.auth.signin_throttle import SignInThrottle
from app.cache import QueryCache, make_cache
from app.cache.redis_cache import RedisCache
from app.config import JobSettings, Settings, with_session_limits
from app.connections import Connections, CredentialBox, build_connections
from app.connections.hosts import parse_allowed
from app.db import Database, WireConfig
from app.limits.inflight import InflightLimiter
from app.limits.ratelimit import PostgresRateLimiter, RateLimiter, RedisFirstRateLimiter, RedisRateLimiter
from app.ops.pool_gauges import Sampler
from app.ops.readiness import Readiness
from app.origin_list import trusted_origins
from app.paging import Cursors
from app.placement import PlacedSource
from app.pools import PoolConfig, PoolRegistry, create_registry
from app.query_service import QueryLimits, QueryService
from app.replica import AgentReplica
from app.semantic import SemanticLayer

if TYPE_CHECKING:  # app.agent imports views' helpers, which import this module
    from app.agent import Agent

KEY = "atlas"  # the one app.extensions key Atlas uses


@dataclass(frozen=True)
class AtlasServices:
    """Everything a request may use that outlives it; one per app, at app.extensions["atlas"]."""

    settings: Settings
    passwords: Passwords
    cursors: Cursors  # signs list cursors (app/paging.py)
    pools: PoolRegistry  # per-org pools of the app role (app/pools)
    db: Database  # the org-scoped door, on `pools`
    placement: PlacedSource  # the door's source: dedicated databases' pools (app/placement)
    cache: QueryCache | None  # agent query results; None when CACHE_BACKEND is none
    limiter: RateLimiter  # per-org query rate
    inflight: InflightLimiter  # per-org agent queries in flight
    semantic: SemanticLayer
    connections: Connections  # orgs' own datasources (app/connections)
    queries: QueryService  # agent SQL for a caller; owns the agent pool
    platform_db: Database  # the platform role's door (app/api/platform_admin.py)
    sign_in_throttle: SignInThrottle
    readiness: Readiness  # GET /readyz
    pool_gauges: Sampler  # pool totals for GET /metrics
    trusted_origins: frozenset[str]  # cookie-authenticated writes and CORS (app/http/origins.py)
    agent: Agent  # the analytics agent: model client, ask slots, budgets (app/agent)
    jobs: JobSettings  # leases, retries and per-org limits of background jobs (app/jobs)

    def close(self) -> None:
        """Release everything, in the reverse order of building."""
        self.pool_gauges.close()
        self.agent.close()
        self.platform_db.close()
        self.queries.close()
        self.inflight.close()
        if self.cache is not None:
            self.cache.close()
        self.db.close()  # closes `pools` too


def build_services(settings: Settings) -> AtlasServices:
    """Build every service from its branch of the settings; a bad layout raises ConfigurationError before anything opens."""

    # The door's one-round-trip reads (app/db/wire.py): statements named or not, and how long to wait for an
    # answer: longer than the server's own statement timeout, whose error says more.
    timeout_ms = settings.database.app_statement_timeout_ms
    wire_config = WireConfig(named=settings.database.db_prepared_statements == "named",
                             timeout_s=timeout_ms / 1000 + 5 if timeout_ms else 60)
    pools = create_registry_for(settings)
    placed = _placed(settings, pools, wire_config)  # each org's transactions to its database (app/placement)
    db = Database(source=placed, wire_config=wire_config).open(wait=False)

    cache = make_cache(settings.cache)
    limiter = _rate_limiter(db, cache, key_prefix=settings.cache.key_prefix)
    inflight = InflightLimiter(settings.database.inflight_database_url, process_threads=settings.agent.threads_per_worker,
                               platform_limit=settings.query.max_in_flight_total)
    limits = QueryLimits.from_settings(settings.query, pools=pools.config)

    semantic = SemanticLayer(db, root=settings.semantic.root)
    connections = build_connections(settings, db=db, pools=pools)
    queries = QueryService(db=db, semantic=semantic, cache=cache, limiter=limiter, inflight=inflight,
                           limits=limits, agent_url=settings.database.agent_database_url,
                           agent_pool_timeout_s=settings.pool.timeout_s, connections=connections,
                           placement=placed, replica=_agent_replica(settings))

    platform_db = Database(settings.database.platform_database_url, min_size=0, max_size=2,
                           timeout_s=settings.pool.timeout_s, wire_config=wire_config).open(wait=False)
    throttle = SignInThrottle(db, settings.sign_in)

    from app.agent import Agent

    readiness = Readiness(database_url=settings.database.app_database_url,
                          redis_client=cache.client if isinstance(cache, RedisCache) else None,
                          timeout_s=settings.http.readiness_timeout_s)
    return AtlasServices(
        settings=settings, passwords=Passwords(**settings.passwords.model_dump()),
        cursors=Cursors(settings.http.cursor_secret.encode()), pools=pools, db=db, placement=placed, cache=cache,
        limiter=limiter,
        inflight=inflight, semantic=semantic, connections=connections, queries=queries, platform_db=platform_db,
        sign_in_throttle=throttle, readiness=readiness, pool_gauges=Sampler(pools, placed),
        trusted_origins=trusted_origins(settings.http), agent=Agent(settings.agent, db=db,
                                                                   slots_url=settings.database.inflight_database_url),
        jobs=settings.jobs,
    )


def check(settings: Settings) -> None:
    """Refuse, before anything is built, what build_services would refuse (atlas serve checks this in its
    master, so a bad setting ends it with one message instead of failing in every worker after the fork)."""
    PoolConfig.from_mapping(settings.pool_layout, default_url=settings.database.app_database_url)
    CredentialBox(settings.connections.keys)
    parse_allowed(settings.connections.allowed_hosts)


def create_registry_for(settings: Settings) -> PoolRegistry:
    """An unopened registry for the settings' pool layout, its connections carrying the app's session limits."""
    config = PoolConfig.from_mapping(settings.pool_layout, default_url=settings.database.app_database_url)
    return create_registry(_with_session_limits(config, settings))


def _with_session_limits(config: PoolConfig, settings: Settings) -> PoolConfig:
    """Every app-role connection starts with the app's statement and lock timeouts (no round trip)."""
    urls = {name: with_session_limits(url, statement_timeout_ms=settings.database.app_statement_timeout_ms,
                                      lock_timeout_ms=settings.database.app_lock_timeout_ms)
            for name, url in config.datasources.items()}
    return dataclasses.replace(config, datasources=urls)


def _placed(settings: Settings, pools: PoolRegistry, wire_config: WireConfig) -> PlacedSource:
    """The registry behind placement routing; a dedicated database's pools are sized like an org's."""
    per_org = pools.config.per_org
    return PlacedSource(
        pools, app_url=pools.config.datasources["default"], agent_url=settings.database.agent_database_url,
        cache_s=settings.placement.cache_s,
        pool_max_size=per_org.max_connections if per_org else pools.config.base_max_connections,
        agent_pool_max_size=settings.agent.threads_per_worker, timeout_s=pools.config.timeout_s,
        platform_url=settings.database.platform_database_url, wire_config=wire_config)


def _agent_replica(settings: Settings) -> AgentReplica | None:
    """The hot standby agent SQL runs on, when ATLAS_AGENT_REPLICA_URL names one."""
    if not settings.replica.replica_url:
        return None
    return AgentReplica(settings.replica.replica_url, max_lag_s=settings.replica.max_lag_s,
                        fallback=settings.replica.replica_fallback, pool_size=settings.agent.threads_per_worker,
                        timeout_s=settings.pool.timeout_s,
                        prepared_statements=settings.database.db_prepared_statements == "named")


def _rate_limiter(db: Database, cache: QueryCache | None, *, key_prefix: str) -> RateLimiter:
    """Shared by every worker: PostgreSQL decides; with Redis, Redis refuses floods first."""
    postgres = PostgresRateLimiter(db)
    if isinstance(cache, RedisCache):
        return RedisFirstRateLimiter(RedisRateLimiter(cache.link, key_prefix=key_prefix), postgres)
    return postgres
