"""What each org's agent spent per UTC day, and its daily token budget (sql/125_agent_usage.sql).

Counts are added in the asking org's own transaction after every model call and
tool call, so a crash loses at most one step's figures. The budget is checked
before an ask starts and after every model call; asks running at once can
overshoot it by at most one model call each (ATLAS_AGENT_MAX_ASKS_PER_ORG bounds
how many there are).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from app.db import Database
from app.errors.limits import AgentBudgetSpentError

COUNTS = ("asks", "steps", "queries", "refused", "prompt_tokens", "completion_tokens", "time_ms")
_TODAY = "(now() AT TIME ZONE 'UTC')::date"
_ADD = (f"INSERT INTO agent_usage (org_id, day, asks, steps, queries, refused, prompt_tokens, completion_tokens,"
        f" time_ms) VALUES (app.current_org(), {_TODAY}, %(asks)s, %(steps)s, %(queries)s, %(refused)s,"
        " %(prompt_tokens)s, %(completion_tokens)s, %(time_ms)s)"
        " ON CONFLICT (org_id, day) DO UPDATE SET asks = agent_usage.asks + EXCLUDED.asks,"
        " steps = agent_usage.steps + EXCLUDED.steps, queries = agent_usage.queries + EXCLUDED.queries,"
        " refused = agent_usage.refused + EXCLUDED.refused,"
        " prompt_tokens = agent_usage.prompt_tokens + EXCLUDED.prompt_tokens,"
        " completion_tokens = agent_usage.completion_tokens + EXCLUDED.completion_tokens,"
        " time_ms = agent_usage.time_ms + EXCLUDED.time_ms, updated_at = now()")
DAYS_SQL = ("SELECT day, asks, steps, queries, refused, prompt_tokens, completion_tokens, time_ms FROM agent_usage"
            " WHERE org_id = (SELECT app.current_org()) AND day > (now() AT TIME ZONE 'UTC')::date - %(days)s"
            " ORDER BY day DESC")


def add(db: Database, org_id: object, **counts: int) -> None:
    """Add to today's row of the org (unknown names are a programming error)."""
    unknown = set(counts) - set(COUNTS)
    if unknown:
        raise ValueError(f"unknown usage counts {sorted(unknown)}")
    with db.transaction(org_id) as scope:
        scope.execute(_ADD, {name: int(counts.get(name, 0)) for name in COUNTS})


def tokens_today(db: Database, org_id: object) -> int:
    with db.transaction(org_id, read_only=True) as scope:
        value = scope.fetch_value(f"SELECT coalesce(sum(prompt_tokens + completion_tokens), 0) FROM agent_usage"
                                  f" WHERE org_id = (SELECT app.current_org()) AND day = {_TODAY}")
    return int(value or 0)


def check_budget(db: Database, org_id: object, *, tokens_per_day: int) -> int:
    """Tokens left today; AgentBudgetSpentError (429, Retry-After until 00:00 UTC) when none are."""
    spent = tokens_today(db, org_id)
    if spent >= tokens_per_day:
        now = dt.datetime.now(dt.UTC)
        midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        raise AgentBudgetSpentError(
            f"this organization spent its agent budget for today ({spent} of {tokens_per_day} tokens, setting "
            "ATLAS_AGENT_TOKENS_PER_DAY); it renews at 00:00 UTC. SQL mode (POST /api/v1/query) still works",
            retry_after_s=int((midnight - now).total_seconds()) + 1)
    return tokens_per_day - spent


def days_json(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of agent_usage as the API shows them."""
    return [{"day": r["day"].isoformat(), "asks": r["asks"], "steps": r["steps"], "queries": r["queries"],
             "refused": r["refused"], "promptTokens": r["prompt_tokens"],
             "completionTokens": r["completion_tokens"], "tokens": r["prompt_tokens"] + r["completion_tokens"],
             "timeMs": r["time_ms"]} for r in rows]
