"""The analytics agent over HTTP: its status, a question streamed as server-sent events, its usage.

    GET  /api/v1/agent                                    configured? which settings are missing (members)
    POST /api/v1/conversations/<id>/ask {question}        text/event-stream of the ask's events (conversation:create)
    GET  /api/v1/admin/agent/usage?days=                  the org's agent usage per UTC day (admins, owners)
    GET  /api/v1/admin/organizations/<id>/agent-usage     one org's, for platform admins (audited)

Refusals that need no model call come first, as ordinary JSON errors: 409
agent_not_configured (naming the settings to set), 404, 429
agent_budget_spent, 429 too_many_concurrent_asks. After that the answer is
200 text/event-stream: `started`, then per model turn `step`, per tool call
`tool` followed by `rows` or `refused`, and last `answer`, `stopped` (a step,
time or token budget) or `error` (the model server failed).
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app, g, stream_with_context
from flask.typing import ResponseReturnValue

from app.agent import usage
from app.api.crm import path_id
from app.api.platform_org import read_org_rows
from app.api.spec.schemas import AGENT_USAGE, obj
from app.bodies.queries import UsageDays
from app.bodies.requests import AskQuestion
from app.endpoint import endpoint
from app.http.body import parsed_body
from app.http.context import services
from app.mcp.agent_loop import Event, start, stream
from app.permissions import MEMBER, PLATFORM_ADMIN, permission, roles

bp = Blueprint("agent", __name__, url_prefix="/api/v1")
MAX_DAYS = 366


@bp.get("/agent")
@endpoint(MEMBER, tag="agent",
          response=obj(("configured", "missingSettings"), configured={"type": "boolean"},
                              missingSettings={"type": "array", "items": {"type": "string"}},
                              model={"type": "string"}, message={"type": "string"},
                              maxSteps={"type": "integer"}, timeBudgetS={"type": "number"},
                              tokensPerDay={"type": "integer"}))
def agent_status() -> ResponseReturnValue:
    """Whether the analytics agent has a model server, and which settings are missing if not.

    Whether Ask works here, and if not which settings an operator must set.
    """
    return services().agent.status()


@bp.post("/conversations/<conversation_id>/ask")
# reads_body: the conversation's id in the path answers first (a malformed one is a 404, before a bad body)
@endpoint(permission("conversation", "create"), tag="agent", body=AskQuestion, reads_body=True,
          response={"type": "string", "description": "text/event-stream"}, media_type="text/event-stream")
def ask(conversation_id: str) -> ResponseReturnValue:
    """Ask the analytics agent a question in plain language: server-sent events `started`, `step`, `tool`,
    `rows`, `refused`, then `answer` (text, sql, columns, rows, chart), `stopped` (a step, time or token
    budget) or `error`; the question, each step and the answer join the conversation. 409 agent_not_configured
    names the settings to set; 429 agent_budget_spent / too_many_concurrent_asks.

    Stream one ask's events; refusals before the first model call are JSON errors.
    """
    target = path_id(conversation_id, what="conversation")
    question = parsed_body(AskQuestion).question
    the_ask, stack = start(services().agent, current_app._get_current_object(),  # type: ignore[attr-defined]  # the real app, kept by the stream
                           g.identity, target, question)
    response = Response(stream_with_context(_sse(stream(the_ask, stack))), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    response.call_on_close(stack.close)  # a client gone before the first event still frees the slot
    return response


def _sse(events: Iterator[Event]) -> Iterator[str]:
    for name, data in events:
        yield f"event: {name}\ndata: {json.dumps(data, default=str, ensure_ascii=False)}\n\n"


def _usage_body(org_id: uuid.UUID, rows: list[dict[str, Any]], days: int) -> dict[str, Any]:
    data = usage.days_json(rows)
    agent = services().agent.config
    today = data[0] if data and data[0]["day"] == _today() else None
    return {"organizationId": str(org_id), "days": days, "tokensPerDay": agent.tokens_per_day,
            "tokensToday": today["tokens"] if today else 0, "data": data}


def _today() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).date().isoformat()


@bp.get("/admin/agent/usage")
@endpoint(roles("admin", "owner"), tag="agent", query=UsageDays, response=AGENT_USAGE)
def org_usage(args: UsageDays) -> ResponseReturnValue:
    """The org's agent usage per UTC day, newest first: asks, steps, queries, refusals, tokens, time."""
    days = args.days
    with services().db.transaction(g.identity.org_id, read_only=True) as scope:
        rows = scope.fetch_all(usage.DAYS_SQL, {"days": days})
    return _usage_body(g.identity.org_id, rows, days)


@bp.get("/admin/organizations/<target_id>/agent-usage")
@endpoint(PLATFORM_ADMIN, tag="platform", query=UsageDays, response=AGENT_USAGE)
def platform_usage(target_id: str, args: UsageDays) -> ResponseReturnValue:
    """One organization's agent usage per UTC day (platform admins; audited in the org too)

    One org's agent usage, for platform admins (platform_audit and the org's own audit trail), read in the
    database where the org lives (an org placed in a dedicated database keeps its agent_usage rows there).
    """
    days = args.days
    target, rows = read_org_rows(target_id, action="platform.organization.agent_usage", query=usage.DAYS_SQL,
                                 params={"days": days})
    return _usage_body(target, rows, days)
