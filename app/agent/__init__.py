"""The analytics agent: a member's question becomes SQL through the org's semantic layer, rows and an answer.

    (settings)       ATLAS_AGENT_* settings and budgets: AgentSettings in app/config/work.py
    provider.py      the model server (OpenAI-compatible chat completions, the `openai` client)
    prompt.py        the system prompt, built per ask from the asking org's own layer
    (app/mcp/agent_tools.py)  the MCP tools, offered to the model with the MCP SDK's schemas
    (app/mcp/agent_loop.py)   one ask: model turns, tool calls as the member, events, the answer;
                              it runs MCP's tools as the asking member, so it sits with the MCP door
    conversation.py  the ask's messages in the org's conversation
    usage.py         tokens, steps, queries and time per org and UTC day; the daily token budget
    slots.py         questions answered at once, per org and per worker

`Agent.admit` refuses before any model call (409 agent_not_configured naming
the settings, 404 conversation, 429 agent_budget_spent, 429
too_many_concurrent_asks); the HTTP view (app/api/agent_routes.py) then
streams the ask's events. See docs/agent.md.
"""
from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from app.agent import conversation, usage
from app.agent.provider import Provider
from app.agent.slots import AskLimiter
from app.auth.identity import Identity
from app.config import AgentSettings
from app.db import Database
from app.errors.configuration import AgentNotConfiguredError

__all__ = ["Agent"]
log = logging.getLogger("atlas.agent")


class Agent:
    """The app's agent: its settings, its model client and its ask slots (built once by build_services)."""

    def __init__(self, config: AgentSettings, *, db: Database, slots_url: str) -> None:
        self.config = config
        if self.config.configured and self.config.asks_per_worker <= self.config.max_asks_per_org:
            log.warning("ATLAS_AGENT_ASKS_PER_WORKER (%d) is not above ATLAS_AGENT_MAX_ASKS_PER_ORG (%d): one org's "
                        "questions can take every ask slot of a worker", self.config.asks_per_worker,
                        self.config.max_asks_per_org)
        self.db = db
        self.slots = AskLimiter(slots_url, process_threads=self.config.asks_per_worker)
        self._provider: Provider | None = None
        self._tools: list[dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def status(self) -> dict[str, Any]:
        """What a client shows before asking: configured or not, and which settings are missing."""
        c = self.config
        body: dict[str, Any] = {"configured": c.configured, "missingSettings": c.missing(),
                                "maxSteps": c.max_steps, "timeBudgetS": c.time_budget_s,
                                "tokensPerDay": c.tokens_per_day}
        if c.configured:
            body["model"] = c.model
        else:
            body["message"] = _not_configured_message(c)
        return body

    def admit(self, ident: Identity, conversation_id: uuid.UUID) -> ExitStack:
        """One of the org's ask slots for a new ask (close the stack when done); app/mcp/agent_loop.py `start` asks.

        Raises AgentNotConfiguredError (409), NotFoundError (404), AgentBudgetSpentError and
        TooManyConcurrentAsksError (429) before any model call.
        """
        if not self.config.configured:
            raise AgentNotConfiguredError(_not_configured_message(self.config),
                                          details={"settings": self.config.missing()})
        assert ident.org_id is not None
        conversation.require(self.db, ident.org_id, conversation_id, user_id=ident.user_id)
        usage.check_budget(self.db, ident.org_id, tokens_per_day=self.config.tokens_per_day)
        stack = ExitStack()
        stack.enter_context(self.slots.slot(ident.org_id, limit=self.config.max_asks_per_org))
        return stack

    def ready(self, tools_of: Callable[[], list[dict[str, Any]]]) -> tuple[Provider, list[dict[str, Any]]]:
        """The model client and the tools offered to it, made on the first ask (`tools_of` lists the tools)."""
        with self._lock:
            if self._provider is None:
                self._provider = Provider(self.config)
            if self._tools is None:
                self._tools = tools_of()
            return self._provider, self._tools

    def close(self) -> None:
        with self._lock:
            if self._provider is not None:
                self._provider.close()
                self._provider = None
        self.slots.close()


def _not_configured_message(config: AgentSettings) -> str:
    return (f"the analytics agent has no model server: set {' and '.join(config.missing())} (and "
            "ATLAS_AGENT_API_KEY if the server wants a key), then restart; see docs/agent.md. "
            "SQL mode (POST /api/v1/query) works without it")
