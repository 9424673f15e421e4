"""The org's semantic layer over HTTP: admin entity CRUD and the agent's explore tool.

Permissions follow the matrix: ``semantic`` read for every member, read and
update for admins and owners; explore also admits a session without an org
(it reads the default layer). The org is always the session's; every change
is audited in the transaction that makes it, and the file sync follows the
commit (app/semantic/layer.py).
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, g
from flask.typing import ResponseReturnValue

from app import audit
from app.api import json_body
from app.db import Scope
from app.errors import ValidationError
from app.permissions import require
from app.semantic import SemanticLayer
from app.serialize import value_json
from app.state import services

bp = Blueprint("semantic", __name__, url_prefix="/api/v1")


def get_layer(app: Flask | None = None) -> SemanticLayer:
    """This app's semantic layer (the query service asks it for ``allowed_tables(org_id)``)."""
    return services(app).semantic


def _entity_json(row: dict[str, Any], *, content: bool = True) -> dict[str, Any]:
    body = {"name": row["name"], "version": row["version"]}
    if content:
        body["yamlContent"] = row["yaml_content"]
    body.update({"updatedBy": value_json(row["updated_by"]), "createdAt": value_json(row["created_at"]),
                 "updatedAt": value_json(row["updated_at"])})
    return body


def _audit(scope: Scope, action: str, row: dict[str, Any]) -> None:
    audit.record(scope, action=action, entity="semantic_entity", entity_id=row["name"],
                 changed_fields=["yaml_content"] if action.endswith("upsert") else (),
                 detail={"version": row["version"]})


@bp.get("/admin/semantic/org/entities")
@require("semantic", "read")
def list_entities() -> ResponseReturnValue:
    return {"data": [_entity_json(r) for r in get_layer().list(g.identity.org_id)]}


@bp.get("/admin/semantic/org/entities/<name>")
@require("semantic", "read")
def get_entity(name: str) -> ResponseReturnValue:
    return _entity_json(get_layer().get(g.identity.org_id, name))


@bp.put("/admin/semantic/org/entities/<name>")
@require("semantic", "update")
def put_entity(name: str) -> ResponseReturnValue:
    """Create or replace; 201 when created, 200 otherwise; `synced` false means the disk lags (logged)."""
    content = json_body().get("yamlContent")
    if not isinstance(content, str):
        raise ValidationError("yamlContent must be a string of entity YAML",
                              details={"fields": {"yamlContent": "must be a string"}})
    ident = g.identity
    row = get_layer().put(ident.org_id, name, content, user_id=ident.user_id, audit=_audit)
    body = {**_entity_json(row), "changed": row["changed"], "synced": row["synced"]}
    return body, 201 if row["changed"] and row["version"] == 1 else 200


@bp.delete("/admin/semantic/org/entities/<name>")
@require("semantic", "update")
def delete_entity(name: str) -> ResponseReturnValue:
    ident = g.identity
    get_layer().delete(ident.org_id, name, user_id=ident.user_id, audit=_audit)
    return "", 204


@bp.post("/semantic/explore")
@require("semantic", "read", org_optional=True)
def explore() -> ResponseReturnValue:
    """ls/cat/grep in the session org's layer; a session without an org reads the default layer."""
    ident = g.identity
    body = json_body()
    regex = body.get("regex", False)
    if not isinstance(regex, bool):
        raise ValidationError("regex must be true or false", details={"fields": {"regex": "must be a boolean"}})
    return get_layer().explore(body.get("command"), body.get("path") or "", body.get("pattern") or "",
                               org_id=ident.org_id, regex=regex)
