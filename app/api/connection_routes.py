"""An org's own datasources over HTTP: /api/v1/admin/connections/<id> (list: app/api/admin_pools.py).

Members read (`connection` read); admins and owners create, update, delete
and test (the matrix's `connection` resource). Every change and every test is
audited. The org is the session's; an id of another org's connection is
simply not found. No answer carries a password.
"""
from __future__ import annotations

from flask import Blueprint, g
from flask.typing import ResponseReturnValue

from app.api.spec.schemas import CONNECTION, obj
from app.bodies.connections import ConnectionChange, NewConnection
from app.endpoint import endpoint
from app.http.context import services
from app.permissions import permission

bp = Blueprint("connections", __name__, url_prefix="/api/v1/admin/connections")


@bp.post("")
@endpoint(permission("connection", "create"), tag="connections", body=NewConnection, response=CONNECTION,
          status=201)
def create_connection(body: NewConnection) -> ResponseReturnValue:
    """Add one of the org's PostgreSQL datasources (400 connection_host_not_allowed names the platform
    setting; 409 if the id is taken); the password is stored encrypted and never returned; audited.

    Add a datasource: {id, url, password?, description?}; 400 connection_host_not_allowed, 409 taken id.
    """
    return services().connections.create(g.identity.org_id, body, user_id=g.identity.user_id), 201


@bp.get("/<connection_id>")
@endpoint(permission("connection", "read"), tag="connections", response=CONNECTION)
def get_connection(connection_id: str) -> ResponseReturnValue:
    """One of the org's connections (404 for any other org's id)"""
    return services().connections.get(g.identity.org_id, connection_id)


@bp.patch("/<connection_id>")
@endpoint(permission("connection", "update"), tag="connections", body=ConnectionChange, response=CONNECTION)
def update_connection(connection_id: str, body: ConnectionChange) -> ResponseReturnValue:
    """Change a connection's url, password or description; its pool and cached results retire; audited.

    Change url, password or description; the connection's pool and cached results are retired.
    """
    return services().connections.update(g.identity.org_id, connection_id, body, user_id=g.identity.user_id)


@bp.delete("/<connection_id>")
@endpoint(permission("connection", "delete"), tag="connections", status=204)
def delete_connection(connection_id: str) -> ResponseReturnValue:
    """Delete a connection; audited."""
    services().connections.delete(g.identity.org_id, connection_id, user_id=g.identity.user_id)
    return "", 204


@bp.post("/<connection_id>/test")
@endpoint(permission("connection", "update"), tag="connections",
          response=obj(
            ("id", "ok"), id={"type": "string"}, ok={"type": "boolean"}, latencyMs={"type": "number"},
            serverVersion={"type": "string"}, warnings={"type": "array", "items": {"type": "string"}},
            error={"type": "string"}))
def test_connection(connection_id: str) -> ResponseReturnValue:
    """Connect once and report latency, server version and warnings about the role's privileges; audited.

    Connect once and report: {ok, latencyMs, serverVersion, warnings} or {ok: false, error}.
    """
    return services().connections.test(g.identity.org_id, connection_id, user_id=g.identity.user_id)
