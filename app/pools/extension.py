"""The app's registry: built by create_app (app/state.py), held in its services.

Its settings come from app.config["POOLS"]: a PoolConfig (Settings.from_env
resolves atlas.yaml and the ATLAS_POOL_* environment into one), or a mapping
shaped like atlas.yaml, as tests pass it. It is created unopened: nothing
connects until `serving(app)` is first asked for connections.
"""
from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from typing import Any

from flask import Flask

from app.config import Settings, with_session_limits
from app.pools import PoolConfig, PoolRegistry, create_registry

_opening = threading.Lock()


def create_registry_for(app_config: Mapping[str, Any], settings: Settings) -> PoolRegistry:
    """An unopened registry for the app's POOLS config, its connections carrying the app's session limits."""
    default_url = settings.app_database_url
    source = app_config.get("POOLS")
    if isinstance(source, PoolConfig):
        config = source
    elif isinstance(source, Mapping):
        config = PoolConfig.from_mapping(source, default_url=default_url)
    else:  # an app built without Settings.from_env: the defaults, no atlas.yaml
        config = PoolConfig.from_mapping({}, default_url=default_url)
    return create_registry(_with_session_limits(config, settings))


def _with_session_limits(config: PoolConfig, settings: Settings) -> PoolConfig:
    """Every app-role connection starts with the app's statement and lock timeouts (no round trip)."""
    urls = {name: with_session_limits(url, statement_timeout_ms=settings.app_statement_timeout_ms,
                                      lock_timeout_ms=settings.app_lock_timeout_ms)
            for name, url in config.datasources.items()}
    return dataclasses.replace(config, datasources=urls)


def registry_of(app: Flask) -> PoolRegistry:
    """The app's registry for reading metrics; does not open it."""
    from app.state import services

    return services(app).pools


def serving(app: Flask) -> PoolRegistry:
    """The app's registry, opened on first use, for handing out connections."""
    registry = registry_of(app)
    with _opening:
        if not registry.opened:
            registry.open(warmup=False)
    return registry


def close(app: Flask) -> None:
    registry_of(app).close()
