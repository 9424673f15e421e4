"""The model server, over the OpenAI-compatible chat-completions API (the official `openai` client).

The same API is served by hosted providers and by local servers (llama.cpp's
llama-server, Ollama, vLLM), so only a base URL, a model name and maybe a key
differ. Every failure becomes AgentProviderError naming the server's address;
the key never appears in a message or a log line.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, cast

import openai

from app.config import AgentSettings
from app.errors.query import AgentProviderError

log = logging.getLogger("atlas.agent")
NO_KEY = "none"  # local servers take any key; the client wants one


@dataclass(frozen=True)
class Completion:
    """One model turn: its text, its tool calls ({id, name, arguments-as-text}) and the tokens it cost."""

    content: str
    tool_calls: tuple[dict[str, str], ...]
    prompt_tokens: int
    completion_tokens: int


class Provider:
    """One client per app (it keeps a connection pool); thread-safe, as the openai client is."""

    def __init__(self, config: AgentSettings) -> None:
        self.config = config
        self._client = openai.OpenAI(api_key=config.api_key or NO_KEY, base_url=config.base_url, max_retries=0,
                                     timeout=config.time_budget_s, organization=None, project=None)

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *,
                 timeout_s: float) -> Completion:
        """One chat completion with the tools offered; AgentProviderError on any failure."""
        try:
            completions = cast(Any, self._client.chat.completions)  # messages and tools are plain dicts of the API's shape
            answer = completions.create(
                model=self.config.model, messages=messages, tools=tools, tool_choice="auto", max_tokens=self.config.max_completion_tokens, timeout=max(0.5, timeout_s))
        except openai.APIStatusError as exc:
            raise AgentProviderError(f"the model server at {self.config.base_url} answered HTTP "
                                     f"{exc.status_code}: {self._clean(exc.message)}") from None
        except openai.APITimeoutError:
            raise AgentProviderError(f"the model server at {self.config.base_url} did not answer within the "
                                     "time budget (ATLAS_AGENT_TIME_BUDGET_S)") from None
        except openai.APIError as exc:
            raise AgentProviderError(f"the model server at {self.config.base_url} could not be used: "
                                     f"{self._clean(exc.message)} (check ATLAS_AGENT_BASE_URL)") from None
        if not answer.choices:
            raise AgentProviderError(f"the model server at {self.config.base_url} answered no choice")
        message = answer.choices[0].message
        calls = tuple({"id": call.id, "name": call.function.name, "arguments": call.function.arguments or "{}"}
                      for call in (message.tool_calls or ()) if getattr(call, "function", None) is not None)
        usage = answer.usage
        content = message.content or ""
        prompt_tokens = usage.prompt_tokens if usage else _estimate(messages)
        completion_tokens = usage.completion_tokens if usage else max(1, len(content) // 4)
        return Completion(content=content, tool_calls=calls, prompt_tokens=int(prompt_tokens or 0),
                          completion_tokens=int(completion_tokens or 0))

    def _clean(self, text: object) -> str:
        """A provider's message, short and without the key (some echo part of it back)."""
        cleaned = str(text or "")[:300]
        key = self.config.api_key
        return cleaned.replace(key, "[key]") if key else cleaned

    def close(self) -> None:
        self._client.close()


def _estimate(messages: list[dict[str, Any]]) -> int:
    """Tokens when a server reports no usage: about four characters each (so the budget still counts)."""
    return max(1, sum(len(str(m.get("content") or "")) for m in messages) // 4)
