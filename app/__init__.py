"""The Flask application factory.

`create_app(config)` takes its configuration (a mapping in tests, Settings
from the environment in the CLI and under atlas serve); nothing deeper reads the
environment. Every long-lived service is built here, once, into one
AtlasServices (app/services.py); each concern then registers its request hooks
through its own `init_app(app)`, and blueprints hold views only.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask

from app.config import Settings

MAX_CONTENT_LENGTH = 2 * 1024 * 1024  # Flask refuses larger request bodies with 413


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


def _settings(config: Mapping[str, object] | Settings | None) -> tuple[Settings, dict[str, object]]:
    """The settings, and the Flask config keys of a mapping (upper-case: `TESTING`, a test's own hooks)."""
    if isinstance(config, Settings):
        return config, {}
    if config is None:
        return Settings.from_env(), {}
    flask_keys = {key: value for key, value in config.items() if key.isupper()}
    return Settings.from_mapping({k: v for k, v in config.items() if k not in flask_keys}), flask_keys


def create_app(config: Mapping[str, object] | Settings | None = None) -> Flask:
    """Build the app; its pool opens in the background, so a down database gives 503s, not a crash.

    A mapping (tests) is read by Settings.from_mapping: lower-case keys are settings, and describe
    everything (no atlas.yaml, no environment); upper-case keys are Flask's own config.
    """
    settings, flask_config = _settings(config)
    app = AtlasFlask("atlas", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_CONTENT_LENGTH
    app.config.from_mapping(flask_config)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # Flask's DefaultJSONProvider has it; the base type does not
    # Imported here, not above: `atlas serve` must set up prometheus_client's mode before its import.
    from app import api
    from app.http import access, endpoint_runtime, errors, identity, origins
    from app.http import metrics as request_metrics
    from app.ops import metrics
    from app.services import KEY, build_services

    services = build_services(settings)  # every long-lived service, once (app/services.py)
    app.extensions[KEY] = services
    if metrics.MULTIPROCESS:  # under atlas serve: create_app runs in the worker, after the fork
        metrics.forget_dead_workers()  # a worker that replaces a killed one drops its live gauges
        services.pool_gauges.start()

    request_metrics.init_app(app, org_labels=settings.metrics.org_labels)  # first: its before_request starts the latency clock
    errors.init_app(app)
    origins.init_app(app)  # before identity: preflights and refused origins look no session up
    identity.init_app(app)
    access.init_app(app)  # after identity: it reads g.identity
    api.init_app(app)
    endpoint_runtime.init_app(app)  # after every blueprint: each view wrapped as it is declared
    return app


def close_app(app: Flask) -> None:
    """Release everything the app opened (pools, cache, threads), in the reverse order of building.

    Called by `atlas serve` when a worker exits, and by the tests.
    """
    from app.http.context import services

    services(app).close()
