"""A concurrency or budget limit of agent work is spent, or Redis (behind the shared limits) is away."""
from __future__ import annotations

from app.errors import RateLimitedError, ServiceUnavailableError


class TooManyConcurrentQueriesError(RateLimitedError):
    """The org already has its limit of agent queries running (setting queryMaxInFlight).

    Answered at once, never queued: the client retries after `retry_after_s`.
    """

    code = "too_many_concurrent_queries"


class AgentPlatformBusyError(ServiceUnavailableError):
    """Every org together already runs ATLAS_QUERY_MAX_IN_FLIGHT_TOTAL agent queries: refused at once."""

    code = "agent_platform_busy"

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, int(retry_after_s))


class AgentCapacityError(ServiceUnavailableError):
    """This worker's share of threads for agent work (ATLAS_AGENT_THREADS_PER_WORKER) is busy: refused at
    once, so agent work never takes the threads CRM, auth and admin requests need."""

    code = "agent_capacity_exhausted"


class RedisUnavailableError(ServiceUnavailableError):
    """Redis failed, timed out, or its circuit is open; callers fall back (cache miss, PostgreSQL limits)."""

    code = "redis_unavailable"


class AgentBudgetSpentError(RateLimitedError):
    """The org spent its daily agent token budget (ATLAS_AGENT_TOKENS_PER_DAY); it renews at 00:00 UTC."""

    code = "agent_budget_spent"


class TooManyConcurrentAsksError(RateLimitedError):
    """The org (ATLAS_AGENT_MAX_ASKS_PER_ORG) or this worker (ATLAS_AGENT_ASKS_PER_WORKER) already answers its
    limit of questions: refused at once, never queued."""

    code = "too_many_concurrent_asks"
