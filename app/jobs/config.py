"""Job settings: how long a lease lasts, how often to retry, how many jobs an org may run at once.

Read from the app's config mapping (Settings.extra, filled from the ATLAS_JOB_* and
ATLAS_WORKER_* variables of app/config.py), so the API and `atlas worker` agree.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from app.config import Settings, conninfo_as
from app.errors import ConfigurationError


@dataclass(frozen=True)
class JobConfig:
    """Defaults are what README.md documents for each ATLAS_JOB_* variable."""

    worker_database_url: str
    concurrency: int = 1  # jobs one `atlas worker` runs at once (one thread each)
    poll_s: float = 1.0  # how long an idle worker waits before asking for due jobs again
    lease_s: float = 30.0  # a running job not heard from for this long is run again elsewhere
    max_attempts: int = 5  # then the job goes to the dead letter (status "dead")
    backoff_base_s: float = 2.0  # retry n waits base * 2**(n-1), at most backoff_max_s
    backoff_max_s: float = 600.0
    max_running_per_org: int = 2  # an org's jobs running at once, over every worker
    result_ttl_s: float = 7 * 86400.0  # how long a scheduled query's results are kept

    @classmethod
    def from_settings(cls, settings: Settings) -> JobConfig:
        """From Settings.extra (lower-case keys, as from_env and tests give them)."""
        return cls.from_mapping(settings.extra, settings=settings)

    @classmethod
    def from_mapping(cls, values: Mapping[str, object], *, settings: Settings) -> JobConfig:
        given = {str(k).lower(): v for k, v in values.items()}
        url = str(given.get("worker_database_url") or conninfo_as(settings.database_url, settings.roles.worker))
        config = cls(
            worker_database_url=url,
            concurrency=_integer(given, "worker_concurrency", cls.concurrency, low=1),
            poll_s=_number(given, "job_poll_s", cls.poll_s, low=0.01),
            lease_s=_number(given, "job_lease_s", cls.lease_s, low=0.5),
            max_attempts=_integer(given, "job_max_attempts", cls.max_attempts, low=1, high=100),
            backoff_base_s=_number(given, "job_backoff_base_s", cls.backoff_base_s, low=0),
            backoff_max_s=_number(given, "job_backoff_max_s", cls.backoff_max_s, low=0),
            max_running_per_org=_integer(given, "job_max_running_per_org", cls.max_running_per_org, low=1),
            result_ttl_s=_number(given, "job_result_ttl_s", cls.result_ttl_s, low=1),
        )
        return config

    def backoff_s(self, attempts: int) -> float:
        """The wait before retry number `attempts` (1 after the first failure)."""
        return float(min(self.backoff_max_s, self.backoff_base_s * 2 ** max(0, attempts - 1)))


def _number(values: Mapping[str, object], key: str, default: float, cast: type = float, *, low: float,
            high: float | None = None) -> float:
    raw = values.get(key, default)
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or (cast is int and not isinstance(raw, int)):
        raise ConfigurationError(f"ATLAS_{key.upper()} must be {'an integer' if cast is int else 'a number'}")
    if raw < low or (high is not None and raw > high):
        bound = f"between {low:g} and {high:g}" if high is not None else f">= {low:g}"
        raise ConfigurationError(f"ATLAS_{key.upper()} must be {bound}")
    return float(raw)


def _integer(values: Mapping[str, object], key: str, default: int, *, low: int, high: int | None = None) -> int:
    return int(_number(values, key, default, int, low=low, high=high))
