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

from flask import Blueprint, Response, current_app, g, request, stream_with_context
from flask.typing import ResponseReturnValue

from app.agent import usage
from app.agent.loop import Event, start, stream
from app.api.crm import path_id
from app.api.platform_org import read_org_rows
from app.bodies.requests import AskQuestion
from app.errors import ValidationError
from app.permissions import member_required, platform_admin_required, require, roles_required
from app.request_body import body
from app.request_services import services

bp = Blueprint("agent", __name__, url_prefix="/api/v1")
MAX_DAYS = 366


@bp.get("/agent")
@member_required
def agent_status() -> ResponseReturnValue:
    """Whether Ask works here, and if not which settings an operator must set."""
    return services().agent.status()


@bp.post("/conversations/<conversation_id>/ask")
@require("conversation", "create")
def ask(conversation_id: str) -> ResponseReturnValue:
    """Stream one ask's events; refusals before the first model call are JSON errors."""
    target = path_id(conversation_id, what="conversation")
    question = body(AskQuestion).question
    the_ask, stack = start(services().agent, current_app._get_current_object(),  # type: ignore[attr-defined]  # the real app, kept by the stream
                           g.identity, target, question)
    response = Response(stream_with_context(_sse(stream(the_ask, stack))), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    response.call_on_close(stack.close)  # a client gone before the first event still frees the slot
    return response


def _sse(events: Iterator[Event]) -> Iterator[str]:
    for name, data in events:
        yield f"event: {name}\ndata: {json.dumps(data, default=str, ensure_ascii=False)}\n\n"


def _days() -> int:
    raw = request.args.get("days", "30")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3) or not 1 <= int(raw) <= MAX_DAYS:
        raise ValidationError(f"days must be an integer from 1 to {MAX_DAYS}",
                              details={"fields": {"days": f"must be from 1 to {MAX_DAYS}"}})
    return int(raw)


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
@roles_required("admin", "owner")
def org_usage() -> ResponseReturnValue:
    """The session org's agent usage per UTC day, newest first."""
    days = _days()
    with services().db.transaction(g.identity.org_id, read_only=True) as scope:
        rows = scope.fetch_all(usage.DAYS_SQL, {"days": days})
    return _usage_body(g.identity.org_id, rows, days)


@bp.get("/admin/organizations/<target_id>/agent-usage")
@platform_admin_required
def platform_usage(target_id: str) -> ResponseReturnValue:
    """One org's agent usage, for platform admins (platform_audit and the org's own audit trail), read in the
    database where the org lives (an org placed in a dedicated database keeps its agent_usage rows there)."""
    days = _days()
    target, rows = read_org_rows(target_id, action="platform.organization.agent_usage", query=usage.DAYS_SQL,
                                 params={"days": days})
    return _usage_body(target, rows, days)
