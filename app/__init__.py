"""The Flask application factory.

`create_app(config)` takes its configuration (a mapping in tests, Settings
from the environment in the CLI and under atlas serve); nothing deeper reads the
environment. Every long-lived service is built here, once, into one
AtlasServices (app/state.py); each concern then registers its request hooks
through its own `init_app(app)`, and blueprints hold views only.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask

from app.auth import DEFAULT_SESSION_TTL_S
from app.config import Settings

DEFAULTS: Mapping[str, object] = {
    "SESSION_TTL_S": DEFAULT_SESSION_TTL_S,
    "PUBLIC_URL": "http://127.0.0.1:8000",
    "COOKIE_SECURE": False,
    "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
    "READINESS_TIMEOUT_S": 1.0,  # GET /readyz: each dependency must answer within this
    "METRICS_TOKEN": "",  # GET /metrics wants it as a bearer token; empty: metrics are off
    "METRICS_ORG_LABELS": False,  # per-org series (atlas_org_*): org ids in labels, off by default
}


class AtlasFlask(Flask):
    """Flask, with `ensure_sync` answered once per function instead of on every call.

    Flask asks it for every hook, the view and each error handler of every request (about a dozen
    calls, ~3 us each: inspect.iscoroutinefunction); the answer for a given function never changes.
    """

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            return self._sync_of[func]
        except KeyError:
            sync = self._sync_of[func] = super().ensure_sync(func)
            return sync
        except TypeError:  # an unhashable callable: asked afresh
            return super().ensure_sync(func)

    @functools.cached_property
    def _sync_of(self) -> dict[Callable[..., Any], Callable[..., Any]]:
        return {}


def _settings(config: Mapping[str, object] | Settings | None) -> Settings:
    if isinstance(config, Settings):
        return config
    if config is None:
        return Settings.from_env()
    return Settings.from_mapping(config)


def create_app(config: Mapping[str, object] | Settings | None = None) -> Flask:
    """Build the app; its pool opens in the background, so a down database gives 503s, not a crash."""
    settings = _settings(config)
    app = AtlasFlask("atlas", static_folder=None)
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping({str(k).upper(): v for k, v in settings.extra.items()})
    app.config["ATLAS_SETTINGS"] = settings
    app.json.sort_keys = False  # type: ignore[attr-defined]  # Flask's DefaultJSONProvider has it; the base type does not

    if not isinstance(config, Settings) and config is not None:
        # A mapping (tests) describes everything: no atlas.yaml or ATLAS_POOL_* from outside;
        # the base pool takes the mapping's pool_* settings.
        app.config.setdefault("POOLS", {"pool": {
            "base": {"minConnections": settings.pool_min_size, "maxConnections": settings.pool_max_size},
            "timeoutMs": max(1, round(settings.pool_timeout_s * 1000)),
        }})
    # Imported here, not above: `atlas serve` must set up prometheus_client's mode before its import.
    from app import api, api_errors, endpoint_runtime, identity, metrics, origins, permissions
    from app.state import KEY, build_services

    services = build_services(app.config, settings)  # every long-lived service, once (app/state.py)
    app.extensions[KEY] = services
    if metrics.MULTIPROCESS:  # under atlas serve: create_app runs in the worker, after the fork
        metrics.forget_dead_workers()  # a worker that replaces a killed one drops its live gauges
        services.pool_gauges.start()

    metrics.init_app(app)  # first: its before_request starts the latency clock
    api_errors.init_app(app)
    origins.init_app(app)  # before identity: preflights and refused origins look no session up
    identity.init_app(app)
    permissions.init_app(app)  # after identity: it reads g.identity
    api.init_app(app)
    endpoint_runtime.init_app(app)  # after every blueprint: each view wrapped as it is declared
    return app


def close_app(app: Flask) -> None:
    """Release everything the app opened (pools, cache, threads), in the reverse order of building.

    Called by `atlas serve` when a worker exits, and by the tests.
    """
    from app.state import services

    services(app).close()
