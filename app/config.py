"""Settings: read once from a mapping (tests) or the environment (CLI, server).

Nothing deeper in the code reads environment variables; it is handed a Settings.
"""
from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from typing import Mapping

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from app.errors import ConfigurationError

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/atlas"
# The semantic layer (semantic/entities, semantic/.orgs/{orgId}); ATLAS_SEMANTIC_ROOT moves it.
DEFAULT_SEMANTIC_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "semantic")
_MAX_ROLE_LEN = 63  # PostgreSQL's NAMEDATALEN - 1
MIN_CURSOR_SECRET_BYTES = 16


@dataclass(frozen=True)
class RoleNames:
    """The roles of one Atlas database (sql/001_roles.sql, sql/040_platform.sql)."""

    owner: str
    app: str
    agent: str
    platform: str

    @classmethod
    def from_prefix(cls, prefix: str) -> RoleNames:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,53}", prefix):
            raise ConfigurationError(
                f"ATLAS_ROLE_PREFIX {prefix!r} must be 1-54 characters of a-z, 0-9 and _"
            )
        return cls(owner=f"{prefix}_owner", app=f"{prefix}_app", agent=f"{prefix}_agent",
                   platform=f"{prefix}_platform")

    def as_variables(self) -> dict[str, str]:
        """The psql-style variables the migrations use (:"owner_role" ...)."""
        return {"owner_role": self.owner, "app_role": self.app, "agent_role": self.agent,
                "platform_role": self.platform}


def default_role_prefix(database_url: str) -> str:
    """Roles are named after the database, so two databases never share roles."""
    dbname = conninfo_to_dict(database_url).get("dbname") or "atlas"
    prefix = re.sub(r"[^a-z0-9_]", "_", str(dbname).lower())
    if not re.match(r"[a-z_]", prefix):
        prefix = f"db_{prefix}"
    return prefix[: _MAX_ROLE_LEN - len("_platform")]


def conninfo_as(database_url: str, role: str) -> str:
    """The same server and database, logged in as another role."""
    return make_conninfo(database_url, user=role)


@dataclass(frozen=True)
class Settings:
    """Everything Atlas needs to know about its environment."""

    database_url: str = DEFAULT_DATABASE_URL
    role_prefix: str = ""
    app_database_url: str = ""
    agent_database_url: str = ""
    platform_database_url: str = ""
    pool_min_size: int = 1
    pool_max_size: int = 10
    pool_timeout_s: float = 10.0
    semantic_root: str = DEFAULT_SEMANTIC_ROOT
    # Signs list cursors (app/paging.py). Unset: a random key per Settings, i.e. per `atlas serve`
    # (its workers fork from it and share it), so cursors last until a restart.
    cursor_secret: str = field(default="", repr=False)
    extra: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.role_prefix:
            object.__setattr__(self, "role_prefix", default_role_prefix(self.database_url))
        roles = self.roles
        if not self.app_database_url:
            object.__setattr__(self, "app_database_url", conninfo_as(self.database_url, roles.app))
        if not self.agent_database_url:
            object.__setattr__(
                self, "agent_database_url", conninfo_as(self.database_url, roles.agent)
            )
        if not self.platform_database_url:
            object.__setattr__(
                self, "platform_database_url", conninfo_as(self.database_url, roles.platform)
            )
        if not self.cursor_secret:
            object.__setattr__(self, "cursor_secret", secrets.token_urlsafe(32))
        elif len(self.cursor_secret.encode()) < MIN_CURSOR_SECRET_BYTES:
            raise ConfigurationError(
                f"ATLAS_CURSOR_SECRET must be at least {MIN_CURSOR_SECRET_BYTES} bytes; make one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        if not 0 <= self.pool_min_size <= self.pool_max_size:
            raise ConfigurationError("ATLAS_POOL_MIN_SIZE must be between 0 and ATLAS_POOL_MAX_SIZE")

    @property
    def roles(self) -> RoleNames:
        return RoleNames.from_prefix(self.role_prefix)

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> Settings:
        """Build from lower-case keys (tests pass a dict of exactly what they need)."""
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        chosen = {k: v for k, v in values.items() if k in known}
        extra = {k: v for k, v in values.items() if k not in known}
        return cls(**chosen, extra=extra)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read DATABASE_URL and ATLAS_* variables (documented in README.md)."""
        env = os.environ if env is None else env
        values: dict[str, object] = {"database_url": env.get("DATABASE_URL", DEFAULT_DATABASE_URL)}
        for key, name, cast in (
            ("role_prefix", "ATLAS_ROLE_PREFIX", str),
            ("app_database_url", "ATLAS_APP_DATABASE_URL", str),
            ("agent_database_url", "ATLAS_AGENT_DATABASE_URL", str),
            ("platform_database_url", "ATLAS_PLATFORM_DATABASE_URL", str),
            ("pool_min_size", "ATLAS_POOL_MIN_SIZE", int),
            ("pool_max_size", "ATLAS_POOL_MAX_SIZE", int),
            ("pool_timeout_s", "ATLAS_POOL_TIMEOUT_S", float),
            ("semantic_root", "ATLAS_SEMANTIC_ROOT", str),
            ("cursor_secret", "ATLAS_CURSOR_SECRET", str),
        ):
            if env.get(name):
                try:
                    values[key] = cast(env[name])
                except ValueError as exc:
                    raise ConfigurationError(f"{name} is not a valid {cast.__name__}") from exc
        return cls.from_mapping(values)
