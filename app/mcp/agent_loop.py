"""One ask, start to finish: a question becomes model turns and tool calls, then an answer.

The order of work is `Ask.events()`: store the question; build the system
prompt from the asking org's layer; then, up to ATLAS_AGENT_MAX_STEPS times
and within ATLAS_AGENT_TIME_BUDGET_S and the org's daily token budget, ask the
model, run each tool call it makes through app/mcp/work.py as the asking
member (so every query passes the gateway, RLS, the org's limits, in-flight
slots, byte budget, cache and audit) and hand the result back; finally store
and yield the answer. Every step, refusal and stop is an event (streamed to the
client as server-sent events) and a message of the org's conversation; every
refusal and stop is in the org's audit trail.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Generator, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from app import audit
from app.agent import Agent, conversation, usage
from app.agent.prompt import system_prompt, tool_result_text
from app.agent.provider import Completion, Provider
from app.auth.identity import Identity
from app.config import AgentSettings
from app.errors import AtlasError, ValidationError
from app.errors.limits import AgentBudgetSpentError
from app.errors.query import AgentProviderError
from app.http.context import services
from app.mcp.agent_tools import openai_tools
from app.mcp.calls import error_answer
from app.mcp.work import TOOLS, call_as
from app.ops import metrics

log = logging.getLogger("atlas.agent")
Event = tuple[str, dict[str, Any]]
MAX_CALLS_PER_STEP = 4  # tool calls of one model turn that are run; more are refused as such
MAX_ARGUMENT_CHARS = 20_000
_NUMERIC = ("int", "numeric", "decimal", "real", "double", "float", "money", "bigint", "smallint")
_TEMPORAL = ("date", "timestamp", "time")


@dataclass
class Tally:
    """What this ask spent so far (also the usage row's increments)."""

    steps: int = 0
    queries: int = 0
    refused: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    sql: list[str] = field(default_factory=list)


def start(agent: Agent, app: Flask, ident: Identity, conversation_id: uuid.UUID,
          question: str) -> tuple[Ask, ExitStack]:
    """An ask ready to stream, holding one of the org's ask slots (close the stack when done).

    Raises what `Agent.admit` raises (409, 404, 429) before any model call.
    """
    stack = agent.admit(ident, conversation_id)
    try:
        provider, tools = agent.ready(lambda: openai_tools(app))
    except BaseException:
        stack.close()
        raise
    return Ask(app, config=agent.config, provider=provider, tools=tools, ident=ident,
               conversation_id=conversation_id, question=question), stack


class Ask:
    """One member's question in one conversation; iterate `events()` once."""

    def __init__(self, app: Flask, *, config: AgentSettings, provider: Provider, tools: list[dict[str, Any]],
                 ident: Identity, conversation_id: uuid.UUID, question: str) -> None:
        assert ident.org_id is not None
        self.app, self.config, self.provider, self.tools = app, config, provider, tools
        self.ident, self.org_id, self.conversation_id, self.question = ident, ident.org_id, conversation_id, question
        self.db = services(app).db
        self.tally = Tally()
        self.last_result: dict[str, Any] | None = None

    # ----- the loop -----
    def events(self) -> Iterator[Event]:
        started = time.monotonic()
        deadline = started + self.config.time_budget_s
        outcome = "error"
        try:
            self._store("user", self.question)
            usage.add(self.db, self.org_id, asks=1)
            messages: list[dict[str, Any]] = [
                {"role": "system", "content": system_prompt(services(self.app).semantic.list(self.org_id))},
                *conversation.history(self.db, self.org_id, self.conversation_id)[:-1],
                {"role": "user", "content": self.question}]
            yield "started", {"conversationId": str(self.conversation_id), "model": self.config.model,
                              "maxSteps": self.config.max_steps, "timeBudgetS": self.config.time_budget_s}
            for step in range(1, self.config.max_steps + 1):
                stop = self._stop_reason(deadline)
                if stop is not None:
                    outcome = stop[0]
                    yield from self._stopped(*stop, step=step)
                    return
                yield "step", {"step": step}
                try:
                    completion = self.provider.complete(messages, self.tools, timeout_s=deadline - time.monotonic())
                except AgentProviderError:
                    stop = self._stop_reason(deadline)
                    if stop is None or stop[0] != "agent_time_limit":
                        raise
                    outcome = stop[0]  # the model was cut off by the ask's own time budget
                    yield from self._stopped(*stop, step=step)
                    return
                self._count(completion)
                if not completion.tool_calls:
                    outcome = "answered"
                    yield "answer", self._answer(completion.content, step=step, started=started)
                    return
                messages.append(_assistant_turn(completion))
                for index, call in enumerate(completion.tool_calls):
                    result = yield from self._tool(call, step=step, allowed=index < MAX_CALLS_PER_STEP)
                    messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
            outcome = "agent_step_limit"
            yield from self._stopped("agent_step_limit", f"the agent used its {self.config.max_steps} steps without "
                                     "answering (setting ATLAS_AGENT_MAX_STEPS); ask a narrower question",
                                     step=self.config.max_steps)
        except AgentProviderError as exc:
            outcome = exc.code
            log.warning("ask %s: %s", self.conversation_id, exc.code)
            yield "error", {"code": exc.code, "message": exc.message}
        except AtlasError as exc:
            outcome = exc.code
            yield "error", {"code": exc.code, "message": exc.message}
        except Exception:
            log.exception("ask %s failed", self.conversation_id)
            yield "error", {"code": "internal_error", "message": "the agent failed; the error is in the server log"}
        finally:
            elapsed_ms = int((time.monotonic() - started) * 1000)
            metrics.agent_ask_finished(outcome, seconds=elapsed_ms / 1000)
            try:
                usage.add(self.db, self.org_id, time_ms=elapsed_ms)
                self._audit("agent.ask", "ok" if outcome == "answered" else "refused",
                            {"outcome": outcome, "steps": self.tally.steps, "queries": self.tally.queries,
                             "refused": self.tally.refused, "tokens": self.tally.prompt_tokens
                             + self.tally.completion_tokens, "timeMs": elapsed_ms})
            except Exception:
                log.exception("ask %s: its usage could not be recorded", self.conversation_id)

    def _stop_reason(self, deadline: float) -> tuple[str, str] | None:
        if time.monotonic() >= deadline:
            return ("agent_time_limit", f"the agent used its {self.config.time_budget_s:g} s without answering "
                    "(setting ATLAS_AGENT_TIME_BUDGET_S); ask a narrower question")
        try:
            usage.check_budget(self.db, self.org_id, tokens_per_day=self.config.tokens_per_day)
        except AgentBudgetSpentError as exc:
            return exc.code, exc.message
        return None

    def _stopped(self, code: str, message: str, *, step: int) -> Iterator[Event]:
        """A budget stopped the ask: audited as a refused attempt, stored, told."""
        self._audit("agent.refused", "refused", {"code": code, "step": step})
        self._store("assistant", f"Stopped: {message}")
        yield "stopped", {"code": code, "message": message, "step": step}

    # ----- one tool call -----
    def _tool(self, call: Mapping[str, str], *, step: int, allowed: bool) -> Generator[Event, None, str]:
        """Run one call as the member (a generator: its events, then the text the model reads back)."""
        name = call["name"]
        arguments, problem = _arguments(call["arguments"])
        shown = {k: (v if len(str(v)) <= 2000 else str(v)[:2000] + "…") for k, v in arguments.items()}
        yield "tool", {"step": step, "tool": name, "arguments": shown}
        try:
            if not allowed:
                raise ValidationError(f"a model turn may make at most {MAX_CALLS_PER_STEP} tool calls")
            if name not in TOOLS:
                raise ValidationError(f"there is no tool named {name[:80]!r}; the tools are {', '.join(TOOLS)}")
            if problem:
                raise ValidationError(problem)
            result = call_as(self.app, self.ident, name, arguments)
        except Exception as exc:  # a refusal: the API's code and message, for the model and the member
            status, body, _headers = error_answer(exc)
            self.tally.refused += 1
            usage.add(self.db, self.org_id, refused=1, queries=int(name == "executeSQL"))
            metrics.agent_tool_call(name if name in TOOLS else "unknown", "refused")
            self._audit("agent.tool_refused", "refused", {"tool": name[:80], "step": step, "code": body["code"],
                                                            "status": status})
            refusal = {"step": step, "tool": name, "code": body["code"], "message": body["message"]}
            if name == "executeSQL" and isinstance(arguments.get("sql"), str):
                refusal["sql"] = arguments["sql"][:2000]
            self._store("tool", {**refusal, "arguments": shown, "outcome": "refused"})
            yield "refused", refusal
            return json.dumps({"error": {"code": body["code"], "message": body["message"]}})
        metrics.agent_tool_call(name, "ok")
        if name == "executeSQL":
            self.tally.queries += 1
            self.tally.sql.append(str(arguments.get("sql")))
            self.last_result = {"sql": str(arguments.get("sql")), **result}
            usage.add(self.db, self.org_id, queries=1)
            rows = self._rows_event(step, self.last_result)
            self._store("tool", {"step": step, "tool": name, "arguments": shown, "outcome": "ok",
                                 **{k: rows[k] for k in ("sql", "columns", "rows", "rowCount", "truncated")}})
            yield "rows", rows
        else:
            self._store("tool", {"step": step, "tool": name, "arguments": shown, "outcome": "ok"})
        return tool_result_text(result)

    def _rows_event(self, step: int, result: Mapping[str, Any]) -> dict[str, Any]:
        rows = list(result.get("rows") or [])
        return {"step": step, "sql": result["sql"], "columns": result.get("columns") or [],
                "rows": rows[: self.config.answer_rows], "rowCount": result.get("rowCount", len(rows)),
                "truncated": bool(result.get("truncated")) or len(rows) > self.config.answer_rows}

    # ----- bookkeeping -----
    def _count(self, completion: Completion) -> None:
        self.tally.steps += 1
        self.tally.prompt_tokens += completion.prompt_tokens
        self.tally.completion_tokens += completion.completion_tokens
        usage.add(self.db, self.org_id, steps=1, prompt_tokens=completion.prompt_tokens,
                  completion_tokens=completion.completion_tokens)
        metrics.agent_tokens(completion.prompt_tokens, completion.completion_tokens)

    def _answer(self, text: str, *, step: int, started: float) -> dict[str, Any]:
        text = text.strip() or "(the model gave no text)"
        answer: dict[str, Any] = {"text": text, "steps": step, "queries": self.tally.queries,
                                  "tokens": self.tally.prompt_tokens + self.tally.completion_tokens,
                                  "timeMs": int((time.monotonic() - started) * 1000)}
        if self.last_result is not None:
            rows = self._rows_event(step, self.last_result)
            answer.update({k: rows[k] for k in ("sql", "columns", "rows", "rowCount", "truncated")})
            answer["chart"] = chart_for(rows["columns"], rows["rows"])
        else:
            answer.update({"sql": None, "columns": [], "rows": [], "rowCount": 0, "truncated": False, "chart": None})
        self._store("assistant", text)
        return answer

    def _store(self, role: str, content: str | dict[str, Any]) -> None:
        conversation.append(self.db, self.org_id, self.conversation_id, role=role, content=content,
                            user_id=self.ident.user_id)

    def _audit(self, action: str, outcome: str, detail: dict[str, Any]) -> None:
        detail = {**detail, "conversationId": str(self.conversation_id)}
        if outcome == "ok":
            with self.db.transaction(self.org_id, user_id=self.ident.user_id) as scope:
                audit.record(scope, action=action, entity="agent", entity_id=self.conversation_id, detail=detail)
        else:
            audit.record_refusal(self.db, org_id=self.org_id, action=action, entity="agent",
                                 entity_id=str(self.conversation_id), actor_user_id=self.ident.user_id, detail=detail)


def _arguments(raw: str) -> tuple[dict[str, Any], str]:
    """The call's arguments as a JSON object, or {} and what is wrong with them."""
    if len(raw) > MAX_ARGUMENT_CHARS:
        return {}, f"tool arguments are longer than {MAX_ARGUMENT_CHARS} characters"
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}, "tool arguments must be a JSON object"
    return (value, "") if isinstance(value, dict) else ({}, "tool arguments must be a JSON object")


def _assistant_turn(completion: Completion) -> dict[str, Any]:
    return {"role": "assistant", "content": completion.content or None,
            "tool_calls": [{"id": c["id"], "type": "function",
                            "function": {"name": c["name"], "arguments": c["arguments"]}}
                           for c in completion.tool_calls]}


def chart_for(columns: list[dict[str, Any]], rows: list[list[Any]]) -> dict[str, Any] | None:
    """The chart that fits a result: a number, a line over time, bars by label, or none (a table)."""
    if not rows or not columns:
        return None
    kinds = [_kind(str(c.get("type", ""))) for c in columns]
    names = [str(c.get("name")) for c in columns]
    if len(columns) == 1 and len(rows) == 1 and kinds[0] == "number":
        return {"type": "number", "value": names[0]}
    if len(columns) == 2 and kinds.count("number") == 1:
        value = kinds.index("number")
        label = 1 - value
        return {"type": "line" if kinds[label] == "time" else "bar", "label": names[label], "value": names[value]}
    return None


def _kind(type_name: str) -> str:
    lowered = type_name.lower()
    if lowered.startswith(_TEMPORAL):
        return "time"
    if any(lowered.startswith(n) for n in _NUMERIC):
        return "number"
    return "text"


def stream(ask: Ask, stack: ExitStack) -> Iterator[Event]:
    """The ask's events; the slot is released when they end or the client goes away."""
    try:
        yield from ask.events()
    finally:
        stack.close()
