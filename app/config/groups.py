"""The settings of the server's doors: the database and its pools, HTTP, sign-in, the cache, metrics, the CLI.

Each field is one environment variable (app/config/base.py says how its name is made); its type,
default, bounds and description are the whole declaration, and docs/configuration.md is generated
from them.
"""
from __future__ import annotations

import os
import secrets
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from app.config.base import CommaList, Group
from app.config.roles import MIN_CURSOR_SECRET_BYTES, RoleNames, conninfo_as, default_role_prefix

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/atlas"
DEFAULT_SESSION_TTL_S = 7 * 24 * 3600
MiB = 1024 * 1024
_ROLE_URLS = {"app_database_url": "app", "agent_database_url": "agent", "platform_database_url": "platform",
              "worker_database_url": "worker"}


class DatabaseSettings(Group):
    """Where Atlas's own database is and how each of its roles logs in."""

    title = "Database and roles"
    url: str = Field(default=DEFAULT_DATABASE_URL, validation_alias="DATABASE_URL", description=(
        "admin connection used by `atlas migrate` and `atlas init`; the roles' connections are derived from it. "
        "For failover name every node: `postgresql://u@db1:5432,db2:5432/atlas?target_session_attrs=read-write` "
        "(docs/operations.md)"))
    role_prefix: str = Field(default="", description="prefix of the roles (default: the database name)")
    app_database_url: str = Field(default="", description="the application's connection (default: `DATABASE_URL` "
                                                  "with user `<prefix>_app`)")
    agent_database_url: str = Field(default="", description="the agent's connection (default: user `<prefix>_agent`)")
    platform_database_url: str = Field(default="", description="the platform-admin connection (default: user "
                                                       "`<prefix>_platform`)")
    inflight_database_url: str = Field(default="", description=(
        "the in-flight limiter's one session per process (app role; default: `ATLAS_APP_DATABASE_URL`); direct "
        "or session-pooled, never a transaction-mode PgBouncer (docs/scaling.md)"))
    worker_database_url: str = Field(default="", description=(
        "`atlas worker`'s login for finding due jobs (default: user `<prefix>_worker`; it may only call "
        "`app.due_jobs()`); jobs themselves run on the app connection"))
    app_statement_timeout_ms: int = Field(default=5_000, ge=0, description=(
        "the app role's `statement_timeout`, sent as a start-up option of every app connection (0: off; behind "
        "PgBouncer set it with `ALTER ROLE`); past it a request answers 503 `statement_timeout`"))
    app_lock_timeout_ms: int = Field(default=2_000, ge=0, description="the app role's `lock_timeout` (0: off); past it "
                                                              "a request answers 409 `lock_timeout`")
    db_prepared_statements: Literal["named", "unnamed"] = Field(default="named", description=(
        "how the one-round-trip reads (`app/db/wire.py`) send statements: `named` keeps them prepared per connection "
        "(PgBouncer >= 1.21 with `max_prepared_statements`), `unnamed` for PgBouncer < 1.21 in transaction mode"))

    @model_validator(mode="before")
    @classmethod
    def _derive_urls(cls, data: Any) -> Any:
        """The roles' connections default to DATABASE_URL logged in as each role."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        url = str(data.get("url") or data.get("DATABASE_URL") or DEFAULT_DATABASE_URL)  # "url" stays unset if so
        data["role_prefix"] = data.get("role_prefix") or default_role_prefix(url)
        roles = RoleNames.from_prefix(str(data["role_prefix"]))
        for name, role in _ROLE_URLS.items():
            data[name] = data.get(name) or conninfo_as(url, getattr(roles, role))
        data["inflight_database_url"] = data.get("inflight_database_url") or data["app_database_url"]
        return data

    @property
    def roles(self) -> RoleNames:
        return RoleNames.from_prefix(self.role_prefix)


class PoolSettings(Group):
    """The app role's pools; the variables after the first three override keys of atlas.yaml (docs/pools.md)."""

    title = "Pools"
    model_config = Group.model_config | {"env_prefix": "ATLAS_POOL_"}
    min_size: int = Field(default=1, json_schema_extra={"layout": "pool.base.minConnections"}, ge=0, description="the base pool's minimum size (`pool.base.minConnections`)")
    max_size: int = Field(default=10, json_schema_extra={"layout": "pool.base.maxConnections"}, ge=1, description="the base pool's size (`pool.base.maxConnections`)")
    timeout_s: float = Field(default=10.0, json_schema_extra={"layout": "pool.timeoutMs"}, gt=0, description="seconds to wait for a connection before answering 503 "
                                                     "(`pool.timeoutMs`)")
    config: str = Field(default="atlas.yaml", validation_alias="ATLAS_CONFIG", description=(
        "the pool layout file (`pool.perOrg`, `maxTotalConnections`, `pool.mode`; docs/pools.md); absent is fine"))
    mode: Literal["shared", "dedicated"] | None = Field(default=None, json_schema_extra={"layout": "pool.mode"}, description=(
        "`pool.mode`: `shared` (per-org quotas over one pool) or `dedicated` (a pool per org); default shared"))
    max_total_connections: int | None = Field(default=None, json_schema_extra={"layout": "maxTotalConnections"}, ge=1, validation_alias="ATLAS_MAX_TOTAL_CONNECTIONS",
                                              description="`maxTotalConnections`, the hard cap (default 100)")
    per_org: bool | None = Field(default=None, description="`on` turns per-org limits on with their defaults, `off` "
                                                   "removes them")
    per_org_max_connections: int | None = Field(default=None, json_schema_extra={"layout": "pool.perOrg.maxConnections"}, ge=1, description=(
        "`pool.perOrg.maxConnections`; any `ATLAS_POOL_PER_ORG_*` turns per-org limits on"))
    per_org_idle_timeout_ms: int | None = Field(default=None, json_schema_extra={"layout": "pool.perOrg.idleTimeoutMs"}, ge=1, description="`pool.perOrg.idleTimeoutMs`: idle time "
                                                                        "before an org's pool closes")
    per_org_max_orgs: int | None = Field(default=None, json_schema_extra={"layout": "pool.perOrg.maxOrgs"}, ge=1, description="`pool.perOrg.maxOrgs`: orgs live at once "
                                                                 "(least recently used beyond)")
    per_org_warmup_probes: int | None = Field(default=None, json_schema_extra={"layout": "pool.perOrg.warmupProbes"}, ge=0, description="`pool.perOrg.warmupProbes`")
    per_org_drain_threshold: int | None = Field(default=None, json_schema_extra={"layout": "pool.perOrg.drainThreshold"}, ge=1, description="`pool.perOrg.drainThreshold`: "
                                                                        "failures before a drain")
    per_org_max_waiting: int | None = Field(default=None, json_schema_extra={"layout": "pool.perOrg.maxWaiting"}, ge=1, description=(
        "`pool.perOrg.maxWaiting`: requests of an org waiting for its connections (beyond: 503 at once)"))
    datasource_url: str | None = Field(default=None, json_schema_extra={"layout": "datasources.default.url"}, validation_alias="ATLAS_DATASOURCE_URL",
                                       description="`datasources.default.url` (default: the app connection)")

    @model_validator(mode="after")
    def _sizes(self) -> PoolSettings:
        if self.min_size > self.max_size:
            raise ValueError("ATLAS_POOL_MIN_SIZE must be between 0 and ATLAS_POOL_MAX_SIZE")
        return self


class HttpSettings(Group):
    """The HTTP door: its public address, cookies, sessions, origins, list cursors and probes."""

    title = "HTTP, sessions and origins"
    public_url: str = Field(default="http://127.0.0.1:8000", description=(
        "base of invitation and password-reset links; the default trusted origin (`atlas serve` sets "
        "`http://<host>:<port>` when unset)"))
    trusted_origins: CommaList = Field(default=(), description=(
        "comma-separated origins (`https://app.example.com`) allowed to send cookie-authenticated writes and "
        "answered with CORS (default: the origin of `ATLAS_PUBLIC_URL`)"))
    cookie_secure: bool = Field(default=False, description="`true` marks the session cookie `Secure` (serve over HTTPS)")
    session_ttl_s: int = Field(default=DEFAULT_SESSION_TTL_S, ge=1, description="session lifetime (7 days)")
    password_reset_sender: str = Field(default="", pattern=r"^$|^[\w.]+:\w+$", description=(
        "`module:function` called as `function(email=, url=, token=)` to deliver a password-reset link "
        "(unset: the link is logged at WARNING)"))
    cursor_secret: str = Field(default_factory=lambda: secrets.token_urlsafe(32), repr=False, description=(
        "key (>= 16 bytes, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`) that signs list "
        "cursors; unset: random at each start (`atlas serve`'s workers share it), so set it when several servers "
        "share the load or cursors should outlive a restart"))
    idempotency_ttl_s: float = Field(default=86400.0, gt=0, description="how long an `Idempotency-Key` and its "
                                                                 "response are kept for retries (1 day)")
    readiness_timeout_s: float = Field(default=1.0, gt=0, le=60, description=(
        "seconds `GET /readyz` waits for the database (and Redis) before answering 503"))

    @field_validator("cursor_secret")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        if len(value.encode()) < MIN_CURSOR_SECRET_BYTES:
            raise ValueError(f"must be at least {MIN_CURSOR_SECRET_BYTES} bytes; make one with python -c "
                             "'import secrets; print(secrets.token_urlsafe(32))'")
        return value


class PasswordSettings(Group):
    """argon2id cost of new password hashes (old ones are rehashed at sign-in)."""

    title = "Passwords"
    model_config = Group.model_config | {"env_prefix": "ATLAS_ARGON2_"}
    time_cost: int = Field(default=3, ge=1, description="argon2id passes")
    memory_kib: int = Field(default=65536, ge=8, description="argon2id memory, KiB")
    parallelism: int = Field(default=4, ge=1, description="argon2id lanes")


class SignInSettings(Group):
    """Sign-in and password-reset throttling (app/auth/signin_throttle.py)."""

    title = "Sign-in throttle"
    model_config = Group.model_config | {"env_prefix": "ATLAS_SIGN_IN_"}
    account_free_attempts: int = Field(default=5, ge=1, description="sign-in attempts per account before the back-off")
    address_free_attempts: int = Field(default=20, ge=1, description="sign-in attempts per client address before it")
    backoff_base_s: float = Field(default=1.0, gt=0, description="first wait, doubling up to the cap")
    backoff_max_s: float = Field(default=300.0, gt=0, description="the cap of the wait")
    forget_after_s: float = Field(default=900.0, gt=0, description="quiet time after which a key's failures are forgotten")

    @model_validator(mode="after")
    def _ordered(self) -> SignInSettings:
        if self.backoff_base_s > self.backoff_max_s:
            raise ValueError("ATLAS_SIGN_IN_BACKOFF_BASE_S must be <= ATLAS_SIGN_IN_BACKOFF_MAX_S")
        if self.forget_after_s < self.backoff_max_s:
            raise ValueError("ATLAS_SIGN_IN_FORGET_AFTER_S must be >= ATLAS_SIGN_IN_BACKOFF_MAX_S")
        return self


class CacheSettings(Group):
    """The agent query result cache, and the Redis the rate limit shares with it."""

    title = "Query cache"
    model_config = Group.model_config | {"env_prefix": "ATLAS_CACHE_"}
    backend: Literal["memory", "redis", "none"] = Field(default="memory", description=(
        "`memory` (per process, LRU), `redis` (shared) or `none`"))
    ttl_s: float = Field(default=300.0, gt=0, description="entry lifetime")
    max_size: int = Field(default=1_000, ge=1, description="entries per process (memory backend)")
    max_bytes: int = Field(default=64 * MiB, ge=1, description="bytes per process (memory backend; least recently used "
                                                       "evicted first)")
    max_entry_bytes: int = Field(default=4 * MiB, ge=1, description="larger results are not cached")
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="the Redis backend")
    key_prefix: str = Field(default="atlas:qc", pattern=r"^\S+$", description=(
        "Redis keys are `{prefix}:{orgId}:...`; the rate limit's log is `{prefix}:rl:{orgId}`"))
    redis_timeout_ms: int = Field(default=200, ge=1, le=10_000, description="socket and connect timeout of each Redis call")
    redis_cooldown_s: float = Field(default=5.0, ge=0, le=3600, description="how long the circuit breaker skips Redis "
                                                                    "after a failure")

    @model_validator(mode="after")
    def _entry_fits(self) -> CacheSettings:
        if self.max_entry_bytes > self.max_bytes:
            raise ValueError("ATLAS_CACHE_MAX_ENTRY_BYTES must be from 1 to ATLAS_CACHE_MAX_BYTES")
        return self


class MetricsSettings(Group):
    """GET /metrics."""

    title = "Metrics"
    model_config = Group.model_config | {"env_prefix": "ATLAS_METRICS_"}
    token: str = Field(default="", repr=False, description="the bearer token `GET /metrics` requires (unset: metrics off)")
    org_labels: bool = Field(default=False, description="`true` adds per-org series (`atlas_org_*`, labelled by org id)")


class CliSettings(Group):
    """Variables that stand for options of the `atlas` command."""

    title = "The atlas command"
    org_id: str = Field(default="", description="stands for `--org` of `atlas init` and `atlas query`")
    token: str = Field(default="", repr=False, description=(
        "`atlas mcp` (stdio): the session token or API key it acts with (a token file wins)"))
    token_file: str = Field(default="", description="`atlas mcp` (stdio): a file holding that token (`--token-file` wins)")


DEFAULT_SEMANTIC_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                     "semantic")
