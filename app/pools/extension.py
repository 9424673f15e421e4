"""The app's registry: built by create_app (app/state.py), held in its services.

Its layout comes from Settings.pool_layout (atlas.yaml and the ATLAS_POOL_*
variables, or a test's mapping shaped like atlas.yaml). It is created unopened: nothing
connects until `serving(app)` is first asked for connections.
"""
from __future__ import annotations

import dataclasses
import threading

from flask import Flask

from app.config import Settings, with_session_limits
from app.pools import PoolConfig, PoolRegistry, create_registry

_opening = threading.Lock()


def create_registry_for(settings: Settings) -> PoolRegistry:
    """An unopened registry for the settings' pool layout, its connections carrying the app's session limits."""
    config = PoolConfig.from_mapping(settings.pool_layout, default_url=settings.database.app_database_url)
    return create_registry(_with_session_limits(config, settings))


def _with_session_limits(config: PoolConfig, settings: Settings) -> PoolConfig:
    """Every app-role connection starts with the app's statement and lock timeouts (no round trip)."""
    urls = {name: with_session_limits(url, statement_timeout_ms=settings.database.app_statement_timeout_ms,
                                      lock_timeout_ms=settings.database.app_lock_timeout_ms)
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
