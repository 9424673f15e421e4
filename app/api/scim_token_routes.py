"""The org's SCIM tokens, for owners and admins: create (the token is shown once), list, revoke; audited.

    GET    /api/v1/admin/scim-tokens        the org's tokens, newest first (never their secret)
    POST   /api/v1/admin/scim-tokens        {name} -> 201 {token, ...}: paste it into the identity provider
    DELETE /api/v1/admin/scim-tokens/<id>   204: the token stops at once
"""
from __future__ import annotations

from flask import Blueprint, g, jsonify
from flask.typing import ResponseReturnValue

from app.api import session_scope
from app.api.crm import path_id
from app.api.spec.schemas import STAMP, UUID, obj
from app.bodies.requests import NewScimToken
from app.endpoint import endpoint
from app.errors import NotFoundError
from app.permissions import permission
from app.scim import tokens

bp = Blueprint("scim_tokens", __name__, url_prefix="/api/v1/admin/scim-tokens")
_TOKEN = obj(("id", "name", "start"), id=UUID, name={"type": "string"}, start={"type": "string"},
             createdBy={"type": "string", "nullable": True}, createdAt=STAMP,
             lastUsedAt={**STAMP, "nullable": True}, revokedAt={**STAMP, "nullable": True})


@bp.get("")
@endpoint(permission("scim", "read"), tag="scim", response=obj(("data",), data={"type": "array", "items": _TOKEN}),
          control_plane=True)
def list_tokens() -> ResponseReturnValue:
    """The org's SCIM tokens (never their secret)"""
    with session_scope(read_only=True) as scope:
        rows = tokens.list_tokens(scope)
    return jsonify({"data": [tokens.token_json(row) for row in rows]})


@bp.post("")
@endpoint(permission("scim", "create"), tag="scim", body=NewScimToken,
          response={"allOf": [_TOKEN, obj(("token",), token={"type": "string"})]}, status=201, control_plane=True,
          people_only=True)
def create_token(body: NewScimToken) -> ResponseReturnValue:
    """Create a SCIM token for an identity provider; its text is answered once; audited"""
    name = body.name
    with session_scope() as scope:
        row, token = tokens.create(scope, name=name, created_by=g.identity.user_id)
    return {**tokens.token_json(row), "token": token}, 201


@bp.delete("/<token_id>")
@endpoint(permission("scim", "delete"), tag="scim", status=204, control_plane=True, people_only=True)
def revoke_token(token_id: str) -> ResponseReturnValue:
    """Revoke a SCIM token at once; audited"""
    target = path_id(token_id, what="SCIM token")
    with session_scope() as scope:
        if tokens.revoke(scope, target) is None:
            raise NotFoundError(f"SCIM token {target} not found")
    return "", 204
