"""The analytics agent's settings: which model server, and the budgets every ask runs under.

Read once from the app's config (ATLAS_AGENT_*, app/config.py); the key comes
from Settings, where it is kept out of every repr. Without a base URL and a
model the agent is off: Ask answers 409 agent_not_configured naming both
settings, and SQL mode (POST /api/v1/query) works as before.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.config import Settings
from app.errors import ConfigurationError

REQUIRED = ("ATLAS_AGENT_BASE_URL", "ATLAS_AGENT_MODEL")


@dataclass(frozen=True)
class AgentConfig:
    """Where the model is, and the per-ask and per-org-per-day budgets."""

    base_url: str = ""
    model: str = ""
    api_key: str = field(default="", repr=False)
    max_steps: int = 8  # model calls per ask
    time_budget_s: float = 60.0  # wall time per ask, model and tools together
    tokens_per_day: int = 200_000  # per org and UTC day, prompt and completion tokens together
    max_asks_per_org: int = 2  # questions one org may have answered at once, across every worker
    asks_per_worker: int = 3  # questions one worker answers at once (each holds a request thread); keep it
    # above max_asks_per_org, so one org never takes every ask slot of a worker
    answer_rows: int = 100  # rows kept in an answer, an event and the conversation
    max_completion_tokens: int = 1024  # per model call

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.model)

    def missing(self) -> list[str]:
        """The settings still to set before Ask works."""
        return [name for name, value in zip(REQUIRED, (self.base_url, self.model), strict=True) if not value]

    @classmethod
    def from_config(cls, config: Mapping[str, Any], settings: Settings) -> AgentConfig:
        """From app.config's AGENT_* keys (tests pass them lower-case in their mapping); ConfigurationError."""
        def get(key: str, default: Any) -> Any:
            value = config.get(key)
            return default if value is None or value == "" else value

        made = cls(base_url=str(get("AGENT_BASE_URL", "")).rstrip("/"), model=str(get("AGENT_MODEL", "")),
                   api_key=settings.agent_api_key, max_steps=int(get("AGENT_MAX_STEPS", cls.max_steps)),
                   time_budget_s=float(get("AGENT_TIME_BUDGET_S", cls.time_budget_s)),
                   tokens_per_day=int(get("AGENT_TOKENS_PER_DAY", cls.tokens_per_day)),
                   max_asks_per_org=int(get("AGENT_MAX_ASKS_PER_ORG", cls.max_asks_per_org)),
                   asks_per_worker=int(get("AGENT_ASKS_PER_WORKER", cls.asks_per_worker)),
                   answer_rows=int(get("AGENT_ANSWER_ROWS", cls.answer_rows)),
                   max_completion_tokens=int(get("AGENT_MAX_COMPLETION_TOKENS", cls.max_completion_tokens)))
        _check(made)
        return made


def _check(config: AgentConfig) -> None:
    """ConfigurationError naming the first setting out of range."""
    for name, value, low in (("ATLAS_AGENT_MAX_STEPS", config.max_steps, 1),
                             ("ATLAS_AGENT_TOKENS_PER_DAY", config.tokens_per_day, 0),
                             ("ATLAS_AGENT_MAX_ASKS_PER_ORG", config.max_asks_per_org, 1),
                             ("ATLAS_AGENT_ASKS_PER_WORKER", config.asks_per_worker, 1),
                             ("ATLAS_AGENT_ANSWER_ROWS", config.answer_rows, 1),
                             ("ATLAS_AGENT_MAX_COMPLETION_TOKENS", config.max_completion_tokens, 1)):
        if value < low:
            raise ConfigurationError(f"{name} must be an integer >= {low}")
    if not config.time_budget_s > 0:
        raise ConfigurationError("ATLAS_AGENT_TIME_BUDGET_S must be a positive number of seconds")
    if config.base_url and not config.base_url.startswith(("http://", "https://")):
        raise ConfigurationError("ATLAS_AGENT_BASE_URL must be an http:// or https:// URL, e.g. "
                                 "https://api.openai.com/v1 or http://127.0.0.1:8080/v1")
