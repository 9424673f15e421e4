"""Role names and connection strings derived from DATABASE_URL, and the two environment reads that are not settings."""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from app.errors.configuration import ConfigurationError

_MAX_ROLE_LEN = 63  # PostgreSQL's NAMEDATALEN - 1
MIN_CURSOR_SECRET_BYTES = 16


@dataclass(frozen=True)
class RoleNames:
    """The roles of one Atlas database (sql/001_roles.sql, sql/040_platform.sql, sql/085_jobs.sql)."""

    owner: str
    app: str
    agent: str
    platform: str
    worker: str = ""  # `atlas worker`'s login: may only call app.due_jobs (sql/085_jobs.sql)
    queue: str = ""  # NOLOGIN owner of app.due_jobs: sees only queued and running jobs' ids

    @classmethod
    def from_prefix(cls, prefix: str) -> RoleNames:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,53}", prefix):
            raise ConfigurationError(
                f"ATLAS_ROLE_PREFIX {prefix!r} must be 1-54 characters of a-z, 0-9 and _"
            )
        return cls(owner=f"{prefix}_owner", app=f"{prefix}_app", agent=f"{prefix}_agent",
                   platform=f"{prefix}_platform", worker=f"{prefix}_worker", queue=f"{prefix}_queue")

    def as_variables(self) -> dict[str, str]:
        """The psql-style variables the migrations use (:"owner_role" ...)."""
        return {"owner_role": self.owner, "app_role": self.app, "agent_role": self.agent,
                "platform_role": self.platform, "worker_role": self.worker, "queue_role": self.queue}


def default_role_prefix(database_url: str) -> str:
    """Roles are named after the database, so two databases never share roles."""
    dbname = conninfo_to_dict(database_url).get("dbname") or "atlas"
    prefix = re.sub(r"[^a-z0-9_]", "_", str(dbname).lower())
    if not re.match(r"[a-z_]", prefix):
        prefix = f"db_{prefix}"
    return prefix[: _MAX_ROLE_LEN - len("_platform")]


def with_session_limits(conninfo: str, *, statement_timeout_ms: int, lock_timeout_ms: int) -> str:
    """The conninfo with statement_timeout and lock_timeout as start-up options (0 turns one off).

    libpq sends them when the connection opens, so they cost no round trip per
    transaction; options already in the conninfo are kept (later -c wins).
    """
    current = conninfo_to_dict(conninfo).get("options")
    limits = f"-c statement_timeout={int(statement_timeout_ms)} -c lock_timeout={int(lock_timeout_ms)}"
    return make_conninfo(conninfo, options=f"{current} {limits}" if current else limits)


def libpq_environment() -> Mapping[str, str]:
    """The process environment libpq reads for every connection it opens (app/connections/conninfo.py
    checks it for what a tenant's connection would inherit); read here, the one place that reads it."""
    return os.environ


def metrics_directory() -> str | None:
    """prometheus_client's multiprocess directory, which `atlas serve` sets for its workers (and
    prometheus_client reads itself); app/ops/metrics.py lists it to forget dead workers."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def conninfo_as(database_url: str, role: str) -> str:
    """The same server and database, logged in as another role."""
    return make_conninfo(database_url, user=role)
