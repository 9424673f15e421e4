"""One registry per Flask app, at app.extensions["atlas_pools"].

Its settings come from app.config["POOLS"]: a PoolConfig (Settings.from_env
resolves atlas.yaml and the ATLAS_POOL_* environment into one), or a mapping
shaped like atlas.yaml, as tests pass it. It is created unopened: nothing
connects until `serving(app)` is first asked for connections.
"""
from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping

from flask import Flask

from app.config import Settings, with_session_limits
from app.pools import PoolConfig, PoolRegistry, create_registry

EXTENSION = "atlas_pools"
_opening = threading.Lock()


def init_app(app: Flask) -> PoolRegistry:
    """Create the app's registry once (idempotent); call after app.config["ATLAS_SETTINGS"] is set."""
    existing = app.extensions.get(EXTENSION)
    if isinstance(existing, PoolRegistry):
        return existing
    default_url = app.config["ATLAS_SETTINGS"].app_database_url
    source = app.config.get("POOLS")
    if isinstance(source, PoolConfig):
        config = source
    elif isinstance(source, Mapping):
        config = PoolConfig.from_mapping(source, default_url=default_url)
    else:  # an app built without Settings.from_env: the defaults, no atlas.yaml
        config = PoolConfig.from_mapping({}, default_url=default_url)
    config = _with_session_limits(config, app.config["ATLAS_SETTINGS"])
    registry = app.extensions[EXTENSION] = create_registry(config)
    return registry


def _with_session_limits(config: PoolConfig, settings: Settings) -> PoolConfig:
    """Every app-role connection starts with the app's statement and lock timeouts (no round trip)."""
    urls = {name: with_session_limits(url, statement_timeout_ms=settings.app_statement_timeout_ms,
                                      lock_timeout_ms=settings.app_lock_timeout_ms)
            for name, url in config.datasources.items()}
    return dataclasses.replace(config, datasources=urls)


def registry_of(app: Flask) -> PoolRegistry:
    """The app's registry for reading metrics; does not open it."""
    return init_app(app)


def serving(app: Flask) -> PoolRegistry:
    """The app's registry, opened on first use, for handing out connections."""
    registry = init_app(app)
    with _opening:
        if not registry.opened:
            registry.open(warmup=False)
    return registry


def close(app: Flask) -> None:
    registry = app.extensions.pop(EXTENSION, None)
    if registry is not None:
        registry.close()
