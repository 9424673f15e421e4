"""The OpenAPI 3.0 document served at GET /api/openapi.json, assembled from the declarations.

CRM paths come from app.entities (app/openapi/crm.py), every other endpoint is
a row of app/openapi/operations.py, and request bodies are the models of
app/bodies. The document is built from these, not from the URL map, so
tests/test_openapi.py can compare the two and fail on an endpoint nobody
described (or a description of an endpoint that is gone).
"""
from __future__ import annotations

import re

from app.bodies.crm import CREATE, UPDATE
from app.entities import ENTITIES
from app.openapi.crm import crm_operations, query_param, row_schema
from app.openapi.op import Op
from app.openapi.operation import operation
from app.openapi.operations import OPERATIONS
from app.openapi.schemas import RESPONSES, Schema, body_components

OPENAPI_VERSION = "3.0.3"
_RULE_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")


def openapi_path(rule: str) -> str:
    """A werkzeug rule (`/api/v1/contacts/<row_id>`) as an OpenAPI path (`/api/v1/contacts/{row_id}`)."""
    return _RULE_VARIABLE.sub(r"{\1}", rule)


def _operation_id(method: str, path: str) -> str:
    return method.lower() + "_" + re.sub(r"[^A-Za-z0-9]+", "_", path.removeprefix("/api/")).strip("_")


def _declared(method: str, path: str, op: Op) -> Schema:
    return operation(op.summary, op.tag, _operation_id(method, path), op.response, status=op.status,
                     body=None if op.body is None else op.body.__name__,
                     parameters=[query_param(name, schema) for name, schema in op.query], access=op.access,
                     idempotent=op.idempotent, media_type=op.media_type)


def _path_parameters(path: str) -> list[Schema]:
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{([^{}]+)}", path)]


def schemas() -> dict[str, Schema]:
    """components/schemas: responses, CRM rows, and every request body model."""
    bodies = [*CREATE.values(), *UPDATE.values(), *(op.body for op in OPERATIONS.values() if op.body)]
    rows = {component_name: row_schema(entity) for component_name, entity in
            ((model.__name__.removesuffix("Create"), ENTITIES[name]) for name, model in CREATE.items())}
    return {**RESPONSES, **rows, **body_components(bodies)}


def build_document(*, server_url: str | None = None) -> Schema:
    """The whole document; deterministic, so it can be compared and cached."""
    paths: dict[str, Schema] = {}
    for entity in ENTITIES.values():
        paths.update(crm_operations(entity))
    for (method, path), op in OPERATIONS.items():
        item = paths.setdefault(path, {})
        if "{" in path and "parameters" not in item:
            item["parameters"] = _path_parameters(path)
        item[method.lower()] = _declared(method, path, op)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Atlas API", "version": "1",
                 "description": "Multi-tenant CRM and organization API. Every request acts in the one "
                                "organization of its session; errors share one shape (Error)."},
        "servers": [{"url": server_url or "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "better-auth.session_token"},
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "the session token, as Authorization: Bearer <token>"},
            },
        },
        "security": [{"sessionCookie": []}, {"bearer": []}],
    }


def documented_operations(document: Schema) -> set[tuple[str, str]]:
    """(METHOD, path) of every operation in a document."""
    methods = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
    return {(m.upper(), p) for p, item in document["paths"].items() for m in item if m in methods}
