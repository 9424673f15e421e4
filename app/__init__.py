"""The Flask application factory.

`create_app(config)` takes its configuration (a mapping in tests, Settings
from the environment in the CLI and under gunicorn); nothing deeper reads the
environment. Each concern registers itself through its own `init_app(app)`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask import Flask

from app.auth import DEFAULT_SESSION_TTL_S, Passwords
from app.config import Settings
from app.db import Database

DEFAULTS: Mapping[str, object] = {
    "SESSION_TTL_S": DEFAULT_SESSION_TTL_S,
    "PUBLIC_URL": "http://127.0.0.1:8000",
    "COOKIE_SECURE": False,
    "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
    "READINESS_TIMEOUT_S": 1.0,  # GET /readyz: each dependency must answer within this
    "METRICS_TOKEN": "",  # GET /metrics wants it as a bearer token; empty: metrics are off
    "METRICS_ORG_LABELS": False,  # per-org series (atlas_org_*): org ids in labels, off by default
}


@dataclass
class AtlasState:
    """Per-app shared objects, at app.extensions["atlas"]."""

    settings: Settings
    db: Database
    passwords: Passwords


def _settings(config: Mapping[str, object] | Settings | None) -> Settings:
    if isinstance(config, Settings):
        return config
    if config is None:
        return Settings.from_env()
    return Settings.from_mapping(config)


def create_app(config: Mapping[str, object] | Settings | None = None) -> Flask:
    """Build the app; its pool opens in the background, so a down database gives 503s, not a crash."""
    settings = _settings(config)
    app = Flask("atlas", static_folder=None)
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping({str(k).upper(): v for k, v in settings.extra.items()})
    app.config["ATLAS_SETTINGS"] = settings
    app.json.sort_keys = False  # type: ignore[attr-defined]

    if not isinstance(config, Settings) and config is not None:
        # A mapping (tests) describes everything: no atlas.yaml or ATLAS_POOL_* from outside;
        # the base pool takes the mapping's pool_* settings.
        app.config.setdefault("POOLS", {"pool": {
            "base": {"minConnections": settings.pool_min_size, "maxConnections": settings.pool_max_size},
            "timeoutMs": max(1, round(settings.pool_timeout_s * 1000)),
        }})
    from app.pools import extension as pools

    db = Database(source=pools.init_app(app)).open(wait=False)
    app.extensions["atlas"] = AtlasState(
        settings=settings,
        db=db,
        passwords=Passwords.from_config(app.config),
    )

    from app import api, api_errors, identity, metrics, permissions

    metrics.init_app(app)  # first: its before_request starts the latency clock
    api_errors.init_app(app)
    identity.init_app(app)
    permissions.init_app(app)  # after identity: it reads g.identity
    api.init_app(app)
    return app


def close_app(app: Flask) -> None:
    """Release everything the app opened: its pools (app, agent, platform) and its cache.

    Called by `atlas serve` when a worker exits, and by the tests.
    """
    from app import metrics
    from app.api import platform_admin, query_routes

    metrics.close(app)
    query_routes.close(app)
    app.extensions["atlas"].db.close()  # closes the per-org pool registry too
    platform = app.extensions.get(platform_admin.EXTENSION)
    if platform is not None:
        platform.close()
