"""The JSON API: blueprint registry and the helpers every view uses."""
from __future__ import annotations

import importlib
import itertools
from collections.abc import Iterable
from contextlib import AbstractContextManager

from flask import Flask, g, request

from app.db import Database, Scope
from app.errors import ValidationError
from app.http.context import services
from app.http.json_input import CheckedJSONProvider
from app.paging import Cursors

# Dotted paths of modules exporting `bp`; add yours here (one line).
BLUEPRINTS: tuple[str, ...] = (
    "app.api.auth_routes",
    "app.api.organizations",
    "app.api.members",
    "app.api.invitations", "app.api.org_reads", "app.api.sessions", "app.api.account",
    "app.api.crm", "app.api.conversations", "app.api.audit_routes",
    "app.api.semantic_routes",
    "app.api.openapi",
    "app.api.admin_pools", "app.api.connection_routes",
    "app.api.platform_admin",
    "app.api.query_routes", "app.api.cache_routes", "app.api.settings_routes",
    "app.api.operations",
    "app.console",  # the web console at / (pages only; it speaks this API like any client)
    "app.api.api_key_routes",
    "app.api.jobs_routes",
    "app.api.agent_routes",
    "app.api.sso_routes",
    "app.api.oauth_routes", "app.console.oauth_consent",  # OAuth for MCP clients (app/oauth/)
    "app.api.role_routes",
    "app.api.team_routes",
    "app.api.scim_routes", "app.api.scim_token_routes",
)


def get_db() -> Database:
    """This app's org-scoped door."""
    return services().db


def session_scope(*, read_only: bool = False) -> AbstractContextManager[Scope]:
    """A transaction in the session's org, as the session's user (every org view's door)."""
    ident = g.identity
    return services().db.transaction(ident.org_id, user_id=ident.user_id, read_only=read_only)


def get_cursors() -> Cursors:
    """This app's cursor signer (its key: ATLAS_CURSOR_SECRET, see app/paging.py)."""
    return services().cursors


def _contains_nul(values: Iterable[str]) -> bool:
    return any("\x00" in value for value in values)


def check_inputs() -> None:
    """Decode a JSON body (checked by CheckedJSONProvider) and refuse NUL in the query or path, once."""
    if request.is_json and request.get_data(cache=True):
        request.get_json(silent=True)
    if _contains_nul(itertools.chain.from_iterable(request.args.items(multi=True))) or "\x00" in request.path:
        raise ValidationError("text values must not contain NUL (\\u0000) characters")


def init_app(app: Flask) -> None:
    checked = CheckedJSONProvider(app)
    checked.sort_keys = app.json.sort_keys  # type: ignore[attr-defined]  # Flask's DefaultJSONProvider has it; the base type does not
    app.json = checked
    app.before_request(check_inputs)
    for dotted in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(dotted).bp)
