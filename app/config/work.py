"""The settings of the work Atlas does: agent queries, the analytics agent, org connections, placement, jobs.

Declared like app/config/groups.py: one field per environment variable, with its type, default,
bounds and description.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from app.config.base import CommaList, Group
from app.config.groups import DEFAULT_SEMANTIC_ROOT, MiB


class QueryLimitSettings(Group):
    """Platform defaults and bounds of agent queries (an org's own settings choose within them)."""

    title = "Agent queries"
    model_config = Group.model_config | {"env_prefix": "ATLAS_QUERY_"}
    rate_per_minute: int = Field(default=60, ge=1, le=600, description=(
        "platform default of `queryRatePerMinute`, an org's agent queries in any 60 s"))
    max_in_flight: int = Field(default=2, ge=1, description=(
        "platform default of `queryMaxInFlight`: an org's agent queries running at once, on every worker together"))
    max_in_flight_total: int = Field(default=0, ge=0, description=(
        "agent queries all orgs together may run at once (503 `agent_platform_busy` past it; 0: no limit); size "
        "it to memory (docs/scaling.md)"))
    result_max_bytes: int = Field(default=10 * MiB, ge=1, description=(
        "byte budget of one agent result (rows as text), enforced by PostgreSQL while rows are produced"))
    max_value_bytes: int = Field(default=64 * MiB, ge=1024, description=(
        "what one row of an agent query may build inside the database, bounded by the gateway before it runs"))


class SemanticSettings(Group):
    """The semantic layer on disk."""

    title = "Semantic layer"
    model_config = Group.model_config | {"env_prefix": "ATLAS_SEMANTIC_"}
    root: str = Field(default=DEFAULT_SEMANTIC_ROOT, description=(
        "`entities/` (default layer) and `.orgs/{orgId}/entities/` (synced org layers); default: `semantic/` "
        "in the repository"))


class AgentSettings(Group):
    """The analytics agent (app/agent, docs/agent.md); without a base URL and a model, Ask is off."""

    title = "Analytics agent"
    model_config = Group.model_config | {"env_prefix": "ATLAS_AGENT_"}
    base_url: str = Field(default="", description="the OpenAI-compatible model server (`https://api.openai.com/v1`)")
    model: str = Field(default="", description="the model to ask")
    api_key: str = Field(default="", repr=False, description="the model server's key (a secret, never logged)")
    max_steps: int = Field(default=8, ge=1, description="model calls per ask")
    time_budget_s: float = Field(default=60.0, gt=0, description="wall time per ask, model and tools together")
    tokens_per_day: int = Field(default=200_000, ge=0, description=(
        "per org and UTC day, prompt and completion tokens together (429 `agent_budget_spent` once spent)"))
    max_asks_per_org: int = Field(default=2, ge=1, description="questions answered at once per org, on every worker")
    asks_per_worker: int = Field(default=3, ge=1, description=(
        "questions one worker answers at once (429 `too_many_concurrent_asks`); keep it above "
        "`ATLAS_AGENT_MAX_ASKS_PER_ORG` and below `atlas serve --threads`"))
    answer_rows: int = Field(default=100, ge=1, description="rows kept in an answer, an event and the conversation")
    max_completion_tokens: int = Field(default=1024, ge=1, description="completion tokens per model call")
    threads_per_worker: int = Field(default=2, ge=1, description=(
        "threads (and agent connections) of one worker that agent queries may hold; keep it below "
        "`atlas serve --threads` (4)"))

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL, e.g. https://api.openai.com/v1 or "
                             "http://127.0.0.1:8080/v1")
        return value.rstrip("/")

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.model)

    def missing(self) -> list[str]:
        """The variables still to set before Ask works."""
        return [name for name, value in (("ATLAS_AGENT_BASE_URL", self.base_url), ("ATLAS_AGENT_MODEL", self.model))
                if not value]


class ReplicaSettings(Group):
    """Agent SQL on a hot standby of the shared database (app/replica.py, docs/scaling.md)."""

    title = "Agent replica"
    model_config = Group.model_config | {"env_prefix": "ATLAS_AGENT_"}
    replica_url: str = Field(default="", description="the agent role on a hot standby; agent SQL runs there (unset: off)")
    max_lag_s: float = Field(default=30.0, gt=0, description="replay lag past which the replica is not used")
    replica_fallback: Literal["primary", "refuse"] = Field(default="primary", description=(
        "past the lag bound or with the replica down: `primary` runs agent SQL there, `refuse` answers 503"))


class ConnectionSettings(Group):
    """Orgs' own PostgreSQL databases (app/connections, docs/connections.md)."""

    title = "Org connections"
    model_config = Group.model_config | {"env_prefix": "ATLAS_CONNECTION_"}
    keys: CommaList = Field(default=(), repr=False, description=(
        "Fernet keys, comma-separated, newest first, that encrypt org connection passwords (unset: no password "
        "can be stored; `make demo` makes one)"))
    allowed_hosts: CommaList = Field(default=(), description=(
        "where org connections may point: `host`, `host:port`, addresses or CIDRs, each optionally `/database`, "
        "comma-separated (unset: org connections are off)"))


class SsoSettings(Group):
    """Single sign-on over OpenID Connect (app/sso, docs/sso.md); client secrets use ATLAS_CONNECTION_KEYS."""

    title = "Single sign-on"
    model_config = Group.model_config | {"env_prefix": "ATLAS_SSO_"}
    clock_skew_s: int = Field(default=60, ge=0, le=300, description=(
        "how far an identity provider's clock may be off when Atlas checks an ID token's `exp` and `iat`"))
    allow_http_issuers: bool = Field(default=False, description=(
        "tests only: accept `http://` issuers and providers on loopback or private addresses (a provider on "
        "127.0.0.1); production issuers are `https://` on public addresses, checked at every connection"))
    txt_resolver: str = Field(default="", pattern=r"^$|^[\w.]+:\w+$", description=(
        "tests only: `module:function(name) -> list[str]` that answers TXT lookups for domain proofs "
        "(unset: the real DNS, through dnspython)"))


class PlacementSettings(Group):
    """Orgs in dedicated databases (app/placement, docs/placement.md)."""

    title = "Placement"
    model_config = Group.model_config | {"env_prefix": "ATLAS_PLACEMENT_"}
    cache_s: float = Field(default=1.0, ge=0, description=(
        "how long a worker keeps an org's placement before reading it again; `atlas org move` waits twice this "
        "before deleting the rows it moved (give the mover the servers' value)"))
    move_pause_at: str = Field(default="", validation_alias="ATLAS_MOVE_PAUSE_AT", description=(
        "tests only: `atlas org move` stops at this step and sleeps, so a test can kill it there"))


class JobSettings(Group):
    """Background jobs and `atlas worker` (app/jobs, docs/jobs.md); held once in the services."""

    title = "Jobs"
    model_config = Group.model_config | {"env_prefix": "ATLAS_JOB_"}
    concurrency: int = Field(default=1, ge=1, validation_alias="ATLAS_WORKER_CONCURRENCY", description=(
        "jobs one `atlas worker` runs at once (`--concurrency` wins)"))
    poll_s: float = Field(default=1.0, ge=0.01, description="seconds an idle worker waits before asking for due jobs again")
    lease_s: float = Field(default=30.0, ge=0.5, description=(
        "a running job not heard from for this long (its worker died) is run again by another worker"))
    max_attempts: int = Field(default=5, ge=1, le=100, description=(
        "default attempts of a job before the dead letter (a job may set `maxAttempts`, 1-100)"))
    backoff_base_s: float = Field(default=2.0, ge=0, description="wait before retry n: base x 2^(n-1), at most the max")
    backoff_max_s: float = Field(default=600.0, ge=0, description="the most a retry waits")
    max_running_per_org: int = Field(default=2, ge=1, description="an org's jobs running at once, over every worker")
    result_ttl_s: float = Field(default=7 * 86400.0, ge=1, description="how long a scheduled query's results are kept")

    def backoff_s(self, attempts: int) -> float:
        """The wait before retry number `attempts` (1 after the first failure)."""
        return float(min(self.backoff_max_s, self.backoff_base_s * 2 ** max(0, attempts - 1)))
