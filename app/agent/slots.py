"""Questions being answered at once: per org across every worker, and per worker.

An ask holds a request thread for as long as the model thinks, so a flood of
questions from one org must neither take every thread of a worker nor every
slot the platform has: the same advisory-lock limiter as agent queries
(app/limits/inflight.py), in a key space of its own, refusing at once with 429
too_many_concurrent_asks naming the setting to change.
"""
from __future__ import annotations

import random

from app.errors.limits import TooManyConcurrentAsksError
from app.limits.inflight import RETRY_AFTER_S, InflightLimiter

ASK_KEYSPACE = 0x41544C02  # Atlas agent asks (agent queries are 0x41544C01)


class AskLimiter(InflightLimiter):
    """InflightLimiter for asks: its own key space and refusals."""

    def __init__(self, conninfo: str, *, process_threads: int) -> None:
        super().__init__(conninfo, process_threads=process_threads, keyspace=ASK_KEYSPACE)

    def org_refusal(self, limit: int) -> Exception:
        return TooManyConcurrentAsksError(
            f"this organization already has {limit} questions being answered (ATLAS_AGENT_MAX_ASKS_PER_ORG);"
            " ask again when one finishes", retry_after_s=random.randint(*RETRY_AFTER_S))

    def process_refusal(self) -> Exception:
        return TooManyConcurrentAsksError(
            f"this worker already answers {self.process_threads} questions (ATLAS_AGENT_ASKS_PER_WORKER);"
            " retry shortly", retry_after_s=random.randint(*RETRY_AFTER_S))
