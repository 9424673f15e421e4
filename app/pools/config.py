"""Pool settings: the `datasources`, `pool` and `maxTotalConnections` keys of atlas.yaml.

Read once, from a mapping shaped like the YAML: Settings.pool_layout, atlas.yaml with the
ATLAS_POOL_* overrides already applied (app/config/tree.py), or a test's dict. Every error
names the key to fix. Without `pool.perOrg`, every org shares the base pool of a datasource.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.errors.configuration import ConfigurationError

MODES = ("dedicated", "shared")
DEFAULT_MODE = "shared"  # chosen by scripts/bench_pools.py (see docs/pools.md)
_DATASOURCE_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")


@dataclass(frozen=True)
class PerOrgLimits:
    """`pool.perOrg`: the limits each org gets, per datasource."""

    max_connections: int = 5
    idle_timeout_ms: int = 30_000
    max_orgs: int = 50
    warmup_probes: int = 2
    drain_threshold: int = 5
    # Requests of one org that may wait for its connections at once (per process and datasource);
    # None: as many as maxConnections. Each waits on a server thread: an org queueing without
    # bound for its own connections takes the threads every other org needs (issue 24 item 13).
    max_waiting: int | None = None

    @property
    def waiting_limit(self) -> int:
        return self.max_connections if self.max_waiting is None else self.max_waiting


# YAML key -> (field, minimum)
_PER_ORG_KEYS = {
    "maxConnections": ("max_connections", 1),
    "idleTimeoutMs": ("idle_timeout_ms", 1),
    "maxOrgs": ("max_orgs", 1),
    "warmupProbes": ("warmup_probes", 0),
    "drainThreshold": ("drain_threshold", 1),
    "maxWaiting": ("max_waiting", 1),
}
_BASE_KEYS = {"minConnections": ("base_min_connections", 0), "maxConnections": ("base_max_connections", 1)}
_ORG_DATASOURCE_KEYS = {"maxConnections": ("org_datasource_max_connections", 1),
                        "reserved": ("org_datasource_reserved", 0)}


@dataclass(frozen=True)
class PoolConfig:
    """Everything the registry needs: where to connect and the limits to hold."""

    datasources: Mapping[str, str] = field(default_factory=dict)  # name -> conninfo
    mode: str = DEFAULT_MODE
    per_org: PerOrgLimits | None = None
    max_total_connections: int = 100
    base_min_connections: int = 1
    base_max_connections: int = 10
    timeout_ms: int = 10_000
    # pool.orgDatasources: the pools of orgs' own datasources (app/connections), one per (org, connection).
    org_datasource_max_connections: int = 2
    org_datasource_reserved: int = 0  # shared mode: connections of the cap kept out of the shared pools for them

    def __post_init__(self) -> None:
        if not self.datasources:
            raise ConfigurationError("datasources must name at least one datasource (datasources.default.url)")
        for name in self.datasources:
            if not _DATASOURCE_NAME.fullmatch(name):
                raise ConfigurationError(f"datasources.{name}: a name is 1-40 characters of A-Z, a-z, 0-9, _ and -")
        if self.mode not in MODES:
            raise ConfigurationError(f"pool.mode must be one of {', '.join(MODES)} (got {self.mode!r})")
        if not 0 <= self.org_datasource_reserved < self.max_total_connections:
            raise ConfigurationError("pool.orgDatasources.reserved must be below maxTotalConnections")
        if self.base_min_connections > self.base_max_connections:
            raise ConfigurationError("pool.base.minConnections must not exceed pool.base.maxConnections")
        self._check_capacity()

    def _check_capacity(self) -> None:
        """Refuse settings under which no org could ever get a connection."""
        cap = self.max_total_connections
        if self.per_org is None or self.mode == "dedicated":
            need = self.base_reserved + (self.per_org.max_connections if self.per_org else 0)
            if need > cap:
                raise ConfigurationError(
                    f"maxTotalConnections ({cap}) is below pool.base.maxConnections x datasources"
                    f" + pool.perOrg.maxConnections ({need}); raise maxTotalConnections or lower those")
        elif self.per_org.max_connections > self.shared_pool_size:
            raise ConfigurationError(
                f"pool.perOrg.maxConnections ({self.per_org.max_connections}) exceeds the shared pool of"
                f" each datasource (maxTotalConnections / datasources = {self.shared_pool_size})")

    @property
    def base_reserved(self) -> int:
        """Connections the base pools may hold, counted against maxTotalConnections."""
        return self.base_max_connections * len(self.datasources)

    @property
    def shared_pool_size(self) -> int:
        """In shared mode each datasource's one physical pool gets an equal share of the cap
        (less pool.orgDatasources.reserved, which orgs' own datasources may take)."""
        return (self.max_total_connections - self.org_datasource_reserved) // len(self.datasources)

    @property
    def timeout_s(self) -> float:
        return self.timeout_ms / 1000

    @property
    def idle_s(self) -> float:
        """How long a pooled connection may stay idle: pool.perOrg.idleTimeoutMs, else 10 minutes."""
        return self.per_org.idle_timeout_ms / 1000 if self.per_org else 600.0

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, default_url: str | None = None) -> PoolConfig:
        """Build from the YAML shape; `default_url` fills datasources.default when absent."""
        pool = _section(values, "pool")
        _reject_unknown(pool, "pool", {"mode", "perOrg", "base", "timeoutMs", "orgDatasources"})
        base = _section(pool, "base", prefix="pool.")
        _reject_unknown(base, "pool.base", set(_BASE_KEYS))
        org_datasources = _section(pool, "orgDatasources", prefix="pool.")
        _reject_unknown(org_datasources, "pool.orgDatasources", set(_ORG_DATASOURCE_KEYS))
        kwargs: dict[str, Any] = {"datasources": _datasources(values.get("datasources"), default_url)}
        if "mode" in pool:
            kwargs["mode"] = str(pool["mode"])
        if "perOrg" in pool and pool["perOrg"] is not None:
            kwargs["per_org"] = _per_org(pool["perOrg"])
        if "maxTotalConnections" in values:
            kwargs["max_total_connections"] = _integer(values["maxTotalConnections"], "maxTotalConnections", 1)
        if "timeoutMs" in pool:
            kwargs["timeout_ms"] = _integer(pool["timeoutMs"], "pool.timeoutMs", 1)
        for key, (name, minimum) in _BASE_KEYS.items():
            if key in base:
                kwargs[name] = _integer(base[key], f"pool.base.{key}", minimum)
        for key, (name, minimum) in _ORG_DATASOURCE_KEYS.items():
            if key in org_datasources:
                kwargs[name] = _integer(org_datasources[key], f"pool.orgDatasources.{key}", minimum)
        return cls(**kwargs)


def _section(values: Mapping[str, Any], key: str, *, prefix: str = "") -> Mapping[str, Any]:
    section = values.get(key) or {}
    if not isinstance(section, Mapping):
        raise ConfigurationError(f"{prefix}{key} must be a mapping")
    return section


def _reject_unknown(section: Mapping[str, Any], where: str, known: set[str]) -> None:
    """A misspelt key would silently fall back to a default; name it instead."""
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigurationError(f"{where}.{unknown[0]} is not a setting (known: {', '.join(sorted(known))})")


def _integer(value: object, key: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigurationError(f"{key} must be an integer >= {minimum} (got {value!r})")
    try:
        number = int(value)
    except ValueError:
        raise ConfigurationError(f"{key} must be an integer >= {minimum} (got {value!r})") from None
    if number < minimum:
        raise ConfigurationError(f"{key} must be an integer >= {minimum} (got {number})")
    return number


def _per_org(section: object) -> PerOrgLimits:
    if not isinstance(section, Mapping):
        raise ConfigurationError("pool.perOrg must be a mapping")
    _reject_unknown(section, "pool.perOrg", set(_PER_ORG_KEYS))
    chosen = {
        name: _integer(section[key], f"pool.perOrg.{key}", minimum)
        for key, (name, minimum) in _PER_ORG_KEYS.items()
        if key in section
    }
    return PerOrgLimits(**chosen)


def _datasources(section: object, default_url: str | None) -> dict[str, str]:
    if section is None:
        section = {}
    if not isinstance(section, Mapping):
        raise ConfigurationError("datasources must be a mapping of name -> {url: ...}")
    urls: dict[str, str] = {}
    for name, entry in section.items():
        url = entry.get("url") if isinstance(entry, Mapping) else None
        if not isinstance(url, str) or not url:
            raise ConfigurationError(f"datasources.{name}.url must be a connection string")
        urls[str(name)] = url
    if "default" not in urls and default_url:
        urls["default"] = default_url
    return urls


def describe(config: PoolConfig) -> dict[str, Any]:
    """The limits as the YAML names them (URLs left out: they may carry passwords)."""
    per_org = None
    if config.per_org is not None:
        per_org = {key: getattr(config.per_org, name) for key, (name, _) in _PER_ORG_KEYS.items()}
    return {
        "mode": config.mode,
        "datasources": sorted(config.datasources),
        "perOrg": per_org,
        "maxTotalConnections": config.max_total_connections,
        "base": {"minConnections": config.base_min_connections, "maxConnections": config.base_max_connections},
        "timeoutMs": config.timeout_ms,
        "orgDatasources": {key: getattr(config, name) for key, (name, _) in _ORG_DATASOURCE_KEYS.items()},
    }


