"""Settings: read once from a mapping (tests) or the environment (CLI, server).

Nothing deeper in the code reads environment variables; it is handed a Settings.
"""
from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from app.errors import ConfigurationError

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/atlas"
# The semantic layer (semantic/entities, semantic/.orgs/{orgId}); ATLAS_SEMANTIC_ROOT moves it.
DEFAULT_SEMANTIC_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "semantic")
_MAX_ROLE_LEN = 63  # PostgreSQL's NAMEDATALEN - 1
MIN_CURSOR_SECRET_BYTES = 16


@dataclass(frozen=True)
class RoleNames:
    """The roles of one Atlas database (sql/001_roles.sql, sql/040_platform.sql, sql/085_jobs.sql)."""

    owner: str
    app: str
    agent: str
    platform: str
    worker: str = ""  # `atlas worker`'s login: may only call app.due_jobs (sql/085_jobs.sql)
    queue: str = ""  # NOLOGIN owner of app.due_jobs: sees only queued and running jobs' ids

    @classmethod
    def from_prefix(cls, prefix: str) -> RoleNames:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,53}", prefix):
            raise ConfigurationError(
                f"ATLAS_ROLE_PREFIX {prefix!r} must be 1-54 characters of a-z, 0-9 and _"
            )
        return cls(owner=f"{prefix}_owner", app=f"{prefix}_app", agent=f"{prefix}_agent",
                   platform=f"{prefix}_platform", worker=f"{prefix}_worker", queue=f"{prefix}_queue")

    def as_variables(self) -> dict[str, str]:
        """The psql-style variables the migrations use (:"owner_role" ...)."""
        return {"owner_role": self.owner, "app_role": self.app, "agent_role": self.agent,
                "platform_role": self.platform, "worker_role": self.worker, "queue_role": self.queue}


def default_role_prefix(database_url: str) -> str:
    """Roles are named after the database, so two databases never share roles."""
    dbname = conninfo_to_dict(database_url).get("dbname") or "atlas"
    prefix = re.sub(r"[^a-z0-9_]", "_", str(dbname).lower())
    if not re.match(r"[a-z_]", prefix):
        prefix = f"db_{prefix}"
    return prefix[: _MAX_ROLE_LEN - len("_platform")]


def with_session_limits(conninfo: str, *, statement_timeout_ms: int, lock_timeout_ms: int) -> str:
    """The conninfo with statement_timeout and lock_timeout as start-up options (0 turns one off).

    libpq sends them when the connection opens, so they cost no round trip per
    transaction; options already in the conninfo are kept (later -c wins).
    """
    current = conninfo_to_dict(conninfo).get("options")
    limits = f"-c statement_timeout={int(statement_timeout_ms)} -c lock_timeout={int(lock_timeout_ms)}"
    return make_conninfo(conninfo, options=f"{current} {limits}" if current else limits)


def libpq_environment() -> Mapping[str, str]:
    """The process environment libpq reads for every connection it opens (app/connections/conninfo.py
    checks it for what a tenant's connection would inherit); read here, the one place that reads it."""
    return os.environ


def metrics_directory() -> str | None:
    """prometheus_client's multiprocess directory, which `atlas serve` sets for its workers (and
    prometheus_client reads itself); app/metrics.py lists it to forget dead workers."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def flag(value: str) -> bool:
    """An on/off environment variable: true/false, 1/0, yes/no, on/off."""
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def conninfo_as(database_url: str, role: str) -> str:
    """The same server and database, logged in as another role."""
    return make_conninfo(database_url, user=role)


@dataclass(frozen=True)
class Settings:
    """Everything Atlas needs to know about its environment."""

    database_url: str = DEFAULT_DATABASE_URL
    role_prefix: str = ""
    app_database_url: str = ""
    agent_database_url: str = ""
    platform_database_url: str = ""
    # The in-flight limiter's session (app/inflight.py): direct or session-pooled, never transaction-pooled.
    inflight_database_url: str = ""
    pool_min_size: int = 1
    pool_max_size: int = 10
    pool_timeout_s: float = 10.0
    # The app role's transactions (README "Configuration"); 0 turns one off.
    app_statement_timeout_ms: int = 5_000
    app_lock_timeout_ms: int = 2_000
    # named: prepared statements kept per connection; unnamed: behind PgBouncer < 1.21 (docs/scaling.md).
    db_prepared_statements: str = "named"
    # Agent work (app/inflight.py, app/gateway/result_budget.py).
    query_max_in_flight: int = 2
    query_max_in_flight_total: int = 0  # every org together (app/inflight.py); 0 is no platform limit
    agent_threads_per_worker: int = 2
    query_result_max_bytes: int = 10 * 1024 * 1024
    # Agent SQL on a hot standby of the shared database (app/replica.py, docs/scaling.md); "" is off.
    agent_replica_url: str = ""
    agent_max_lag_s: float = 30.0
    agent_replica_fallback: str = "primary"
    query_max_value_bytes: int = 64 * 1024 * 1024  # what one row of an agent query may build (gateway/value_size.py)
    semantic_root: str = DEFAULT_SEMANTIC_ROOT
    idempotency_ttl_s: float = 86400.0  # how long an Idempotency-Key's response is kept (app/idempotency.py)
    # Signs list cursors (app/paging.py). Unset: a random key per Settings, i.e. per `atlas serve`
    # (its workers fork from it and share it), so cursors last until a restart.
    cursor_secret: str = field(default="", repr=False)
    # The analytics agent's model server key (app/agent/config.py): a secret, never in a repr or a log.
    agent_api_key: str = field(default="", repr=False)
    extra: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.role_prefix:
            object.__setattr__(self, "role_prefix", default_role_prefix(self.database_url))
        roles = self.roles
        if not self.app_database_url:
            object.__setattr__(self, "app_database_url", conninfo_as(self.database_url, roles.app))
        if not self.agent_database_url:
            object.__setattr__(
                self, "agent_database_url", conninfo_as(self.database_url, roles.agent)
            )
        if not self.inflight_database_url:
            object.__setattr__(self, "inflight_database_url", self.app_database_url)
        if not self.platform_database_url:
            object.__setattr__(
                self, "platform_database_url", conninfo_as(self.database_url, roles.platform)
            )
        if not self.cursor_secret:
            object.__setattr__(self, "cursor_secret", secrets.token_urlsafe(32))
        elif len(self.cursor_secret.encode()) < MIN_CURSOR_SECRET_BYTES:
            raise ConfigurationError(
                f"ATLAS_CURSOR_SECRET must be at least {MIN_CURSOR_SECRET_BYTES} bytes; make one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        if not 0 <= self.pool_min_size <= self.pool_max_size:
            raise ConfigurationError("ATLAS_POOL_MIN_SIZE must be between 0 and ATLAS_POOL_MAX_SIZE")
        if self.db_prepared_statements not in ("named", "unnamed"):
            raise ConfigurationError("ATLAS_DB_PREPARED_STATEMENTS must be named or unnamed")
        if self.agent_replica_fallback not in ("primary", "refuse"):
            raise ConfigurationError("ATLAS_AGENT_REPLICA_FALLBACK must be primary or refuse")
        if isinstance(self.agent_max_lag_s, bool) or not isinstance(self.agent_max_lag_s, (int, float)) \
                or not self.agent_max_lag_s > 0:
            raise ConfigurationError("ATLAS_AGENT_MAX_LAG_S must be a positive number of seconds")
        if not self.idempotency_ttl_s > 0:
            raise ConfigurationError("ATLAS_IDEMPOTENCY_TTL_S must be a positive number of seconds")
        for name, value, low in (("ATLAS_APP_STATEMENT_TIMEOUT_MS", self.app_statement_timeout_ms, 0),
                                 ("ATLAS_APP_LOCK_TIMEOUT_MS", self.app_lock_timeout_ms, 0),
                                 ("ATLAS_QUERY_MAX_IN_FLIGHT", self.query_max_in_flight, 1),
                                 ("ATLAS_QUERY_MAX_IN_FLIGHT_TOTAL", self.query_max_in_flight_total, 0),
                                 ("ATLAS_AGENT_THREADS_PER_WORKER", self.agent_threads_per_worker, 1),
                                 ("ATLAS_QUERY_RESULT_MAX_BYTES", self.query_result_max_bytes, 1),
                                 ("ATLAS_QUERY_MAX_VALUE_BYTES", self.query_max_value_bytes, 1024)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigurationError(f"{name} must be an integer >= {low}")

    @property
    def roles(self) -> RoleNames:
        return RoleNames.from_prefix(self.role_prefix)

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> Settings:
        """Build from lower-case keys (tests pass a dict of exactly what they need)."""
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        chosen = {k: v for k, v in values.items() if k in known}
        extra = {k: v for k, v in values.items() if k not in known}
        return cls(**chosen, extra=extra)  # type: ignore[arg-type]  # keys were filtered to the dataclass's own fields

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read DATABASE_URL and the ATLAS_* variables of ENVIRONMENT: the one place the environment is read.

        The pool layout (atlas.yaml and its ATLAS_POOL_* overrides, docs/pools.md) is
        resolved here too and handed to the app as its POOLS config.
        """
        from app.pools.config import load_pool_config

        env = os.environ if env is None else env
        values: dict[str, object] = {"database_url": env.get("DATABASE_URL", DEFAULT_DATABASE_URL)}
        for variable in ENVIRONMENT:
            if env.get(variable.name):
                values[variable.key] = variable.parse(env[variable.name])
        settings = cls.from_mapping(values)
        pools = load_pool_config(env=env, default_url=settings.app_database_url)
        return replace(settings, extra={**settings.extra, "pools": pools})


@dataclass(frozen=True)
class EnvVariable:
    """One environment variable: the setting (Settings field or app config key) it fills, and its type."""

    name: str
    key: str
    cast: Callable[[str], object] = str

    def parse(self, raw: str) -> object:
        try:
            return self.cast(raw)
        except ValueError as exc:
            kind = "boolean (true/false)" if self.cast is flag else getattr(self.cast, "__name__", "value")
            raise ConfigurationError(f"{self.name} is not a valid {kind}") from exc


# Every variable Atlas reads besides DATABASE_URL (each documented in README.md, and a test checks it).
# The ATLAS_POOL_* overrides of atlas.yaml are listed in app/pools/config.py ENV_OVERRIDES.
ENVIRONMENT: tuple[EnvVariable, ...] = (
    EnvVariable("ATLAS_ROLE_PREFIX", "role_prefix"),
    EnvVariable("ATLAS_APP_DATABASE_URL", "app_database_url"),
    EnvVariable("ATLAS_AGENT_DATABASE_URL", "agent_database_url"),
    EnvVariable("ATLAS_AGENT_REPLICA_URL", "agent_replica_url"),
    EnvVariable("ATLAS_AGENT_MAX_LAG_S", "agent_max_lag_s", float),
    EnvVariable("ATLAS_AGENT_REPLICA_FALLBACK", "agent_replica_fallback"),
    EnvVariable("ATLAS_INFLIGHT_DATABASE_URL", "inflight_database_url"),
    EnvVariable("ATLAS_PLATFORM_DATABASE_URL", "platform_database_url"),
    EnvVariable("ATLAS_POOL_MIN_SIZE", "pool_min_size", int),
    EnvVariable("ATLAS_POOL_MAX_SIZE", "pool_max_size", int),
    EnvVariable("ATLAS_POOL_TIMEOUT_S", "pool_timeout_s", float),
    EnvVariable("ATLAS_APP_STATEMENT_TIMEOUT_MS", "app_statement_timeout_ms", int),
    EnvVariable("ATLAS_APP_LOCK_TIMEOUT_MS", "app_lock_timeout_ms", int),
    EnvVariable("ATLAS_DB_PREPARED_STATEMENTS", "db_prepared_statements"),
    EnvVariable("ATLAS_QUERY_MAX_IN_FLIGHT", "query_max_in_flight", int),
    EnvVariable("ATLAS_QUERY_MAX_IN_FLIGHT_TOTAL", "query_max_in_flight_total", int),
    EnvVariable("ATLAS_AGENT_THREADS_PER_WORKER", "agent_threads_per_worker", int),
    EnvVariable("ATLAS_QUERY_RESULT_MAX_BYTES", "query_result_max_bytes", int),
    EnvVariable("ATLAS_QUERY_MAX_VALUE_BYTES", "query_max_value_bytes", int),
    EnvVariable("ATLAS_SEMANTIC_ROOT", "semantic_root"),
    EnvVariable("ATLAS_CURSOR_SECRET", "cursor_secret"),
    EnvVariable("ATLAS_PUBLIC_URL", "public_url"),
    EnvVariable("ATLAS_TRUSTED_ORIGINS", "trusted_origins"),
    EnvVariable("ATLAS_PASSWORD_RESET_SENDER", "password_reset_sender"),
    EnvVariable("ATLAS_SESSION_TTL_S", "session_ttl_s", int),
    EnvVariable("ATLAS_COOKIE_SECURE", "cookie_secure", flag),
    EnvVariable("ATLAS_ARGON2_TIME_COST", "argon2_time_cost", int),
    EnvVariable("ATLAS_ARGON2_MEMORY_KIB", "argon2_memory_kib", int),
    EnvVariable("ATLAS_ARGON2_PARALLELISM", "argon2_parallelism", int),
    EnvVariable("ATLAS_SIGN_IN_ACCOUNT_FREE_ATTEMPTS", "sign_in_account_free_attempts", int),
    EnvVariable("ATLAS_SIGN_IN_ADDRESS_FREE_ATTEMPTS", "sign_in_address_free_attempts", int),
    EnvVariable("ATLAS_SIGN_IN_BACKOFF_BASE_S", "sign_in_backoff_base_s", float),
    EnvVariable("ATLAS_SIGN_IN_BACKOFF_MAX_S", "sign_in_backoff_max_s", float),
    EnvVariable("ATLAS_SIGN_IN_FORGET_AFTER_S", "sign_in_forget_after_s", float),
    EnvVariable("ATLAS_QUERY_RATE_PER_MINUTE", "query_rate_per_minute", int),
    EnvVariable("ATLAS_CACHE_BACKEND", "cache_backend"),
    EnvVariable("ATLAS_CACHE_TTL_S", "cache_ttl_s", float),
    EnvVariable("ATLAS_CACHE_MAX_SIZE", "cache_max_size", int),
    EnvVariable("ATLAS_CACHE_MAX_BYTES", "cache_max_bytes", int),
    EnvVariable("ATLAS_CACHE_MAX_ENTRY_BYTES", "cache_max_entry_bytes", int),
    EnvVariable("ATLAS_CACHE_REDIS_URL", "cache_redis_url"),
    EnvVariable("ATLAS_CACHE_KEY_PREFIX", "cache_key_prefix"),
    EnvVariable("ATLAS_CACHE_REDIS_TIMEOUT_MS", "cache_redis_timeout_ms", int),
    EnvVariable("ATLAS_CACHE_REDIS_COOLDOWN_S", "cache_redis_cooldown_s", float),
    EnvVariable("ATLAS_IDEMPOTENCY_TTL_S", "idempotency_ttl_s", float),
    EnvVariable("ATLAS_READINESS_TIMEOUT_S", "readiness_timeout_s", float),
    EnvVariable("ATLAS_METRICS_TOKEN", "metrics_token"),
    EnvVariable("ATLAS_METRICS_ORG_LABELS", "metrics_org_labels", flag),
    EnvVariable("ATLAS_TOKEN", "mcp_token"),  # atlas mcp (stdio): the session token or API key it acts with
    EnvVariable("ATLAS_TOKEN_FILE", "mcp_token_file"),  # atlas mcp (stdio): a file holding that token
    EnvVariable("ATLAS_CONNECTION_KEYS", "connection_keys"),  # app/connections/crypto.py
    EnvVariable("ATLAS_CONNECTION_ALLOWED_HOSTS", "connection_allowed_hosts"),  # app/connections/hosts.py
    EnvVariable("ATLAS_PLACEMENT_CACHE_S", "placement_cache_s", float),
    EnvVariable("ATLAS_MOVE_PAUSE_AT", "move_pause_at"),
    # Backups, point-in-time restore, export and deletion of an org (app/backup, app/orgdata, docs/operations.md).
    EnvVariable("ATLAS_BACKUP_CONFIG", "backup_config"),
    EnvVariable("ATLAS_BACKUP_REPO", "backup_repo"),
    EnvVariable("ATLAS_BACKUP_SCRATCH_DIR", "backup_scratch_dir"),
    EnvVariable("ATLAS_PG_BINDIR", "pg_bindir"),
    EnvVariable("ATLAS_ORG_DELETE_GRACE_S", "org_delete_grace_s", float),
    # Background jobs and `atlas worker` (app/jobs/config.py).
    EnvVariable("ATLAS_WORKER_DATABASE_URL", "worker_database_url"),
    EnvVariable("ATLAS_WORKER_CONCURRENCY", "worker_concurrency", int),
    EnvVariable("ATLAS_JOB_POLL_S", "job_poll_s", float),
    EnvVariable("ATLAS_JOB_LEASE_S", "job_lease_s", float),
    EnvVariable("ATLAS_JOB_MAX_ATTEMPTS", "job_max_attempts", int),
    EnvVariable("ATLAS_JOB_BACKOFF_BASE_S", "job_backoff_base_s", float),
    EnvVariable("ATLAS_JOB_BACKOFF_MAX_S", "job_backoff_max_s", float),
    EnvVariable("ATLAS_JOB_MAX_RUNNING_PER_ORG", "job_max_running_per_org", int),
    EnvVariable("ATLAS_JOB_RESULT_TTL_S", "job_result_ttl_s", float),
    # The analytics agent (app/agent/config.py, docs/agent.md).
    EnvVariable("ATLAS_AGENT_BASE_URL", "agent_base_url"),
    EnvVariable("ATLAS_AGENT_MODEL", "agent_model"),
    EnvVariable("ATLAS_AGENT_API_KEY", "agent_api_key"),
    EnvVariable("ATLAS_AGENT_MAX_STEPS", "agent_max_steps", int),
    EnvVariable("ATLAS_AGENT_TIME_BUDGET_S", "agent_time_budget_s", float),
    EnvVariable("ATLAS_AGENT_TOKENS_PER_DAY", "agent_tokens_per_day", int),
    EnvVariable("ATLAS_AGENT_MAX_ASKS_PER_ORG", "agent_max_asks_per_org", int),
    EnvVariable("ATLAS_AGENT_ASKS_PER_WORKER", "agent_asks_per_worker", int),
    EnvVariable("ATLAS_AGENT_ANSWER_ROWS", "agent_answer_rows", int),
    EnvVariable("ATLAS_AGENT_MAX_COMPLETION_TOKENS", "agent_max_completion_tokens", int),
)
