"""The JSON API: blueprint registry and the helpers every view uses."""
from __future__ import annotations

import importlib

from flask import Flask, current_app, request

from app.db import Database
from app.errors import ValidationError

# Dotted paths of modules exporting `bp`; add yours here (one line).
BLUEPRINTS: tuple[str, ...] = (
    "app.api.auth_routes",
    "app.api.organizations",
    "app.api.members",
    "app.api.crm", "app.api.conversations", "app.api.audit_routes",
    "app.api.semantic_routes",
    "app.api.openapi",
    "app.api.admin_pools",
    "app.api.platform_admin",
    "app.api.query_routes", "app.api.settings_routes",
    "app.api.operations",
)


def get_db() -> Database:
    """This app's org-scoped door."""
    return current_app.extensions["atlas"].db


def json_body() -> dict:
    """The request's JSON object; an empty body is {}; anything else is a 400."""
    if not request.get_data(cache=True):
        return {}
    body = request.get_json(silent=True) if request.is_json else None
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object (Content-Type: application/json)")
    return body


def _contains_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False


def refuse_nul_characters() -> None:
    """PostgreSQL text cannot hold NUL; refuse it at the edge, once, for every input."""
    body = request.get_json(silent=True) if request.is_json else None
    if (
        _contains_nul(body)
        or any(_contains_nul(k) or _contains_nul(v) for k, v in request.args.items(multi=True))
        or _contains_nul(request.path)
    ):
        raise ValidationError("text values must not contain NUL (\\u0000) characters")


def init_app(app: Flask) -> None:
    app.before_request(refuse_nul_characters)
    for dotted in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(dotted).bp)
