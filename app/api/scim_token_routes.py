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
from app.bodies import body
from app.bodies.requests import NewScimToken
from app.errors import NotFoundError
from app.permissions import people_only, require
from app.placement.router import on_control_plane
from app.scim import tokens

bp = Blueprint("scim_tokens", __name__, url_prefix="/api/v1/admin/scim-tokens")


@bp.get("")
@on_control_plane
@require("scim", "read")
def list_tokens() -> ResponseReturnValue:
    with session_scope(read_only=True) as scope:
        rows = tokens.list_tokens(scope)
    return jsonify({"data": [tokens.token_json(row) for row in rows]})


@bp.post("")
@on_control_plane
@require("scim", "create")
@people_only
def create_token() -> ResponseReturnValue:
    name = body(NewScimToken).name
    with session_scope() as scope:
        row, token = tokens.create(scope, name=name, created_by=g.identity.user_id)
    return {**tokens.token_json(row), "token": token}, 201


@bp.delete("/<token_id>")
@on_control_plane
@require("scim", "delete")
@people_only
def revoke_token(token_id: str) -> ResponseReturnValue:
    target = path_id(token_id, what="SCIM token")
    with session_scope() as scope:
        if tokens.revoke(scope, target) is None:
            raise NotFoundError(f"SCIM token {target} not found")
    return "", 204
