"""Org-scoped API keys over HTTP: create (the secret is shown once), list and revoke.

Admins and owners manage their org's keys (`apiKey` in the permission
matrix); a key never acts above its creator's role, and minting one needs a
person's session. Every change is audited in the transaction that makes it.
Revoking a key also stops what it left behind (app/cascades.py): its queued or
running jobs are canceled in the same transaction, then its pending invitations
on the control plane.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, g
from flask.typing import ResponseReturnValue

from app import audit, cascades
from app.api import session_scope
from app.api.spec.schemas import obj, ref
from app.auth import api_keys
from app.bodies.requests import NewApiKey
from app.crm.writes import parse_uuid
from app.endpoint import endpoint
from app.errors import ForbiddenError, NotFoundError
from app.permissions import permission
from app.placement.router import control_plane
from app.roles import outranks
from app.serialize import value_json

bp = Blueprint("api_keys", __name__, url_prefix="/api/v1/admin")


def key_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(row["id"]), "name": row["name"], "role": row["role"], "start": row["start"],
            **{camel: value_json(row[column]) for camel, column in (
                ("createdBy", "created_by"), ("createdAt", "created_at"), ("expiresAt", "expires_at"),
                ("revokedAt", "revoked_at"), ("revokedBy", "revoked_by"), ("lastUsedAt", "last_used_at"))}}


@bp.post("/api-keys")
@endpoint(permission("apiKey", "create"), tag="admin", body=NewApiKey,
          response={"allOf": [ref("ApiKey"), obj(("key",), key={"type": "string"})]}, status=201, people_only=True)
def create_key(body: NewApiKey) -> ResponseReturnValue:
    """Create an org-scoped API key (role at most the creator's; a person's session only); the answer's `key`
    is shown once.

    201 with the key's `key` (the only time it is shown); 403 for a role above the creator's.
    """
    ident = g.identity
    if outranks(body.role, ident.role):
        raise ForbiddenError(f"a {ident.role} may not create a key with role {body.role!r}: "
                             "a key acts with at most its creator's role")
    with session_scope() as scope:
        new = api_keys.create(scope, name=body.name, role=body.role, created_by=ident.user_id,
                              expires_at=body.expiresAt)
        audit.record(scope, action="api_key.create", entity="api_key", entity_id=new.row["id"],
                     changed_fields=("name", "role", "expires_at"),
                     detail={"name": body.name, "role": body.role,
                             "expiresAt": value_json(body.expiresAt)})
    return {**key_json(new.row), "key": new.secret}, 201


@bp.get("/api-keys")
@endpoint(permission("apiKey", "read"), tag="admin",
          response=obj(("data",), data={"type": "array", "items": ref("ApiKey")}))
def list_keys() -> ResponseReturnValue:
    """The org's API keys, revoked ones included (never a secret)"""
    with session_scope(read_only=True) as scope:
        return {"data": [key_json(row) for row in api_keys.list_all(scope)]}


@bp.delete("/api-keys/<key_id>")
@endpoint(permission("apiKey", "delete"), tag="admin", response=ref("ApiKey"))
def revoke_key(key_id: str) -> ResponseReturnValue:
    """Revoke an API key at once (idempotent); cancels the jobs it enqueued that are queued or running and the
    invitations it sent that are pending.

    Revoke at once: the key's next request is refused on every worker, its live jobs and pending
    invitations are canceled (a revoked key's again: idempotent); 404 for another org's key.
    """
    ident = g.identity
    try:
        target = parse_uuid(key_id)
    except ValueError:
        target = None
    with session_scope() as scope:
        row = api_keys.revoke(scope, target, revoked_by=ident.user_id) if target is not None else None
        if row is None:
            raise NotFoundError("no API key with this id in this organization")
        audit.record(scope, action="api_key.revoke", entity="api_key", entity_id=row["id"],
                     changed_fields=("revoked_at",), detail={"name": row["name"]})
        cascades.cancel_jobs(scope, reason="api_key.revoke", api_key_ids=[row["id"]])
    # Invitations are control-plane rows; revoking the key again finishes this if it fails.
    with control_plane(), session_scope() as scope:
        cascades.cancel_invitations(scope, reason="api_key.revoke", api_key_ids=[row["id"]])
    return key_json(row)
