"""An org's own datasources over HTTP: /api/v1/admin/connections/<id> (list: app/api/admin_pools.py).

Members read (`connection` read); admins and owners create, update, delete
and test (the matrix's `connection` resource). Every change and every test is
audited. The org is the session's; an id of another org's connection is
simply not found. No answer carries a password.
"""
from __future__ import annotations

from flask import Blueprint, g
from flask.typing import ResponseReturnValue

from app.bodies.connections import ConnectionChange, NewConnection
from app.permissions import require
from app.request_body import body
from app.request_services import services

bp = Blueprint("connections", __name__, url_prefix="/api/v1/admin/connections")


@bp.post("")
@require("connection", "create")
def create_connection() -> ResponseReturnValue:
    """Add a datasource: {id, url, password?, description?}; 400 connection_host_not_allowed, 409 taken id."""
    new = body(NewConnection)
    return services().connections.create(g.identity.org_id, new, user_id=g.identity.user_id), 201


@bp.get("/<connection_id>")
@require("connection", "read")
def get_connection(connection_id: str) -> ResponseReturnValue:
    return services().connections.get(g.identity.org_id, connection_id)


@bp.patch("/<connection_id>")
@require("connection", "update")
def update_connection(connection_id: str) -> ResponseReturnValue:
    """Change url, password or description; the connection's pool and cached results are retired."""
    change = body(ConnectionChange)
    return services().connections.update(g.identity.org_id, connection_id, change, user_id=g.identity.user_id)


@bp.delete("/<connection_id>")
@require("connection", "delete")
def delete_connection(connection_id: str) -> ResponseReturnValue:
    services().connections.delete(g.identity.org_id, connection_id, user_id=g.identity.user_id)
    return "", 204


@bp.post("/<connection_id>/test")
@require("connection", "update")
def test_connection(connection_id: str) -> ResponseReturnValue:
    """Connect once and report: {ok, latencyMs, serverVersion, warnings} or {ok: false, error}."""
    return services().connections.test(g.identity.org_id, connection_id, user_id=g.identity.user_id)
