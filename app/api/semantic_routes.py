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
from app.api.spec.schemas import obj, ref
from app.bodies.requests import Explore, PutSemanticEntity
from app.db import Scope
from app.endpoint import endpoint
from app.http.context import services
from app.permissions import permission
from app.semantic import SemanticLayer
from app.semantic.store import entity_json

bp = Blueprint("semantic", __name__, url_prefix="/api/v1")


def get_layer(app: Flask | None = None) -> SemanticLayer:
    """This app's semantic layer (the query service asks it for ``allowed_tables(org_id)``)."""
    return services(app).semantic


def _audit(scope: Scope, action: str, row: dict[str, Any]) -> None:
    audit.record(scope, action=action, entity="semantic_entity", entity_id=row["name"],
                 changed_fields=["yaml_content"] if action.endswith("upsert") else (),
                 detail={"version": row["version"]})


@bp.get("/admin/semantic/org/entities")
@endpoint(permission("semantic", "read"), tag="semantic",
          response=obj(("data",), data={"type": "array", "items": ref("SemanticEntity")}))
def list_entities() -> ResponseReturnValue:
    """The org's semantic entities."""
    return {"data": [entity_json(r) for r in get_layer().list(g.identity.org_id)]}


@bp.get("/admin/semantic/org/entities/<name>")
@endpoint(permission("semantic", "read"), tag="semantic", response=ref("SemanticEntity"))
def get_entity(name: str) -> ResponseReturnValue:
    """One semantic entity."""
    return entity_json(get_layer().get(g.identity.org_id, name))


@bp.put("/admin/semantic/org/entities/<name>")
@endpoint(permission("semantic", "update"), tag="semantic", body=PutSemanticEntity,
          response={"allOf": [ref("SemanticEntity"), obj(changed={"type": "boolean"}, synced={"type": "boolean"})]})
def put_entity(name: str, body: PutSemanticEntity) -> ResponseReturnValue:
    """Create (201) or replace (200) a semantic entity from YAML.

    Create or replace; 201 when created, 200 otherwise; `synced` false means the disk lags (logged).
    """
    content = body.yamlContent
    ident = g.identity
    row = get_layer().put(ident.org_id, name, content, user_id=ident.user_id, audit=_audit)
    entity = {**entity_json(row), "changed": row["changed"], "synced": row["synced"]}
    return entity, 201 if row["changed"] and row["version"] == 1 else 200


@bp.delete("/admin/semantic/org/entities/<name>")
@endpoint(permission("semantic", "update"), tag="semantic")
def delete_entity(name: str) -> ResponseReturnValue:
    """Delete a semantic entity."""
    ident = g.identity
    get_layer().delete(ident.org_id, name, user_id=ident.user_id, audit=_audit)
    return "", 204


@bp.post("/semantic/explore")
@endpoint(permission("semantic", "read", org_optional=True), tag="semantic", body=Explore,
          response={"type": "object"})
def explore(body: Explore) -> ResponseReturnValue:
    """ls, cat or grep in the session org's semantic layer.

    ls/cat/grep in the session org's layer; a session without an org reads the default layer.
    """
    ident = g.identity
    return get_layer().explore(body.command, body.path or "", body.pattern or "",
                               org_id=ident.org_id, regex=body.regex)
