"""The settings tree: one frozen Settings of typed groups, read once from the environment or a mapping."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import yaml
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import BaseModel, ConfigDict, Field

from app.config.backup import BackupSettings
from app.config.base import Group, build_group, read_group
from app.config.groups import (
    CacheSettings,
    CliSettings,
    DatabaseSettings,
    HttpSettings,
    MetricsSettings,
    PasswordSettings,
    PoolSettings,
    SignInSettings,
)
from app.config.oauth import OAuthSettings
from app.config.work import (
    AgentSettings,
    ConnectionSettings,
    JobSettings,
    PlacementSettings,
    QueryLimitSettings,
    ReplicaSettings,
    SemanticSettings,
    SsoSettings,
)
from app.errors.configuration import ConfigurationError


class Settings(BaseModel):
    """Everything Atlas needs to know about its environment; each service takes its own branch."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    pool: PoolSettings = Field(default_factory=PoolSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    passwords: PasswordSettings = Field(default_factory=PasswordSettings)
    sign_in: SignInSettings = Field(default_factory=SignInSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    query: QueryLimitSettings = Field(default_factory=QueryLimitSettings)
    semantic: SemanticSettings = Field(default_factory=SemanticSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    replica: ReplicaSettings = Field(default_factory=ReplicaSettings)
    connections: ConnectionSettings = Field(default_factory=ConnectionSettings)
    sso: SsoSettings = Field(default_factory=SsoSettings)
    placement: PlacementSettings = Field(default_factory=PlacementSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    backup: BackupSettings = Field(default_factory=BackupSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    cli: CliSettings = Field(default_factory=CliSettings)
    oauth: OAuthSettings = Field(default_factory=OAuthSettings)
    # The pool layout, shaped like atlas.yaml (datasources, pool, maxTotalConnections) with the
    # ATLAS_POOL_* overrides applied; app/pools/config.py validates it into a PoolConfig.
    pool_layout: Mapping[str, Any] = {}

    @classmethod
    def groups(cls) -> dict[str, type[Group]]:
        """Each branch's name and class, in declaration order."""
        return {name: info.annotation for name, info in cls.model_fields.items()
                if isinstance(info.annotation, type) and issubclass(info.annotation, Group)}

    def masked(self) -> dict[str, Any]:
        """The values in effect, each secret (a field kept out of reprs) shown only as set or not, and
        connection strings without their passwords."""
        shown: dict[str, Any] = {}
        for name, group in type(self).groups().items():
            branch = getattr(self, name)
            shown[name] = {field: _masked(field, getattr(branch, field), secret=info.repr is False)
                           for field, info in group.model_fields.items()}
        shown["pool_layout"] = self.pool_layout
        return shown

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read DATABASE_URL and the ATLAS_* variables, then atlas.yaml: the one place the environment is read.

        One ConfigurationError names every bad variable, so an operator fixes them in one round.
        """
        env = os.environ if env is None else env
        groups: dict[str, Group] = {}
        problems: list[str] = []
        for name, group in cls.groups().items():
            try:
                groups[name] = build_group(group, read_group(group, env))
            except ConfigurationError as exc:
                problems.append(exc.message)
        if problems:
            raise ConfigurationError("; ".join(problems))
        pool = groups["pool"]
        assert isinstance(pool, PoolSettings)
        return cls.model_validate({**groups, "pool_layout": with_overrides(_read_layout(Path(pool.config)), pool)})

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Settings:
        """Build from flat lower-case keys, each its variable without `ATLAS_` (`cache_ttl_s` for
        ATLAS_CACHE_TTL_S, `database_url` for DATABASE_URL), as tests pass exactly what they need.

        A branch may also be given whole (`cache=CacheSettings(...)`); `pools` is a layout shaped like
        atlas.yaml, taken as it is. An unknown key is refused: a typo must not pass silently.
        """
        by_key = flat_keys()
        chosen: dict[str, dict[str, Any]] = {name: {} for name in cls.groups()}
        whole: dict[str, Any] = {}
        for key, value in values.items():
            if key in by_key:
                group, field = by_key[key]
                chosen[group][field] = value
            elif key in chosen:
                whole[key] = value
            elif key != "pools":
                raise ConfigurationError(f"unknown setting {key!r}: not a variable of docs/configuration.md")
        groups: dict[str, Any] = {}
        for name, kind in cls.groups().items():
            given = whole.get(name)
            if isinstance(given, kind) and not chosen[name]:
                groups[name] = given
            elif isinstance(given, kind):  # a branch and some of its keys: validated together
                groups[name] = build_group(kind, {**given.model_dump(exclude_unset=True), **chosen[name]})
            else:
                groups[name] = build_group(kind, {**dict(given or {}), **chosen[name]})
        layout = values.get("pools")
        if layout is None:
            layout = with_overrides({}, groups["pool"])
        elif not isinstance(layout, Mapping):
            raise ConfigurationError("pools must be a mapping shaped like atlas.yaml")
        return cls.model_validate({**groups, "pool_layout": layout})


def _masked(field: str, value: Any, *, secret: bool) -> Any:
    if secret:
        return "(set)" if value else ""
    if not (field.endswith("url") and isinstance(value, str) and value):
        return value
    parts = urlsplit(value)
    if parts.scheme.startswith("redis"):
        return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":(set)@")).geturl() \
            if parts.password else value
    try:
        return make_conninfo(value, password="(set)") if conninfo_to_dict(value).get("password") else value
    except psycopg.ProgrammingError:
        return "(not a connection string)"


def flat_keys() -> dict[str, tuple[str, str]]:
    """`cache_ttl_s` -> ("cache", "ttl_s"): every variable's key in Settings.from_mapping."""
    return {variable.removeprefix("ATLAS_").lower(): (name, field)
            for name, group in Settings.groups().items() for field, variable, _ in group.variables()}


def with_overrides(layout: Mapping[str, Any], pool: PoolSettings) -> dict[str, Any]:
    """A copy of the layout with the pool variables that were set written at their atlas.yaml keys."""
    merged = _deep_copy(layout)
    for name, _variable, info in PoolSettings.variables():
        path = (info.json_schema_extra or {}).get("layout") if isinstance(info.json_schema_extra, dict) else None
        if path is None or name not in pool.model_fields_set or getattr(pool, name) is None:
            continue
        value = getattr(pool, name)
        if name == "timeout_s":
            value = max(1, round(value * 1000))  # seconds here, milliseconds in atlas.yaml
        *parents, leaf = str(path).split(".")
        target = merged
        for key in parents:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        target[leaf] = value
    if pool.per_org is False:
        merged.get("pool", {}).pop("perOrg", None)
    elif pool.per_org:
        merged.setdefault("pool", {}).setdefault("perOrg", {})
    return merged


def _deep_copy(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in values.items()}


def _read_layout(path: Path) -> Mapping[str, Any]:
    """atlas.yaml (ATLAS_CONFIG); absent is fine: every key has a default."""
    if not path.is_file():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path} (ATLAS_CONFIG) is not valid YAML: {exc}") from exc
    if not isinstance(loaded, Mapping):
        raise ConfigurationError(f"{path} (ATLAS_CONFIG) must hold a mapping at the top level")
    return loaded
