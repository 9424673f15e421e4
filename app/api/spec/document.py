"""The OpenAPI 3.0 document served at GET /api/openapi.json, derived from the URL map and each view's declaration.

Every routed API view with a declaration (app/endpoint.py) is one operation:
the summary is its docstring's first paragraph (or the declaration's
`summary`, for the generated CRM views), access is written as `x-atlas-access`,
the query string's parameters come from its query model, the request body is
its body model (a component), the success response is its declared schema, and
an idempotent view takes the Idempotency-Key header. Nothing is written twice:
a route without a declaration is refused by app/permissions.py and absent here.
"""
from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterator
from typing import Any

from flask import Flask

from app.api.spec.crm import row_schema
from app.api.spec.operation import operation
from app.api.spec.schemas import RESPONSES, Schema, body_components, oas30
from app.bodies.crm import CREATE
from app.bodies.query import Query
from app.endpoint import Endpoint, endpoint_of
from app.entities import ENTITIES
from app.permissions import Access

OPENAPI_VERSION = "3.0.3"
_RULE_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")
_IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})


def openapi_path(rule: str) -> str:
    """A werkzeug rule (`/api/v1/contacts/<row_id>`) as an OpenAPI path (`/api/v1/contacts/{row_id}`)."""
    return _RULE_VARIABLE.sub(r"{\1}", rule)


def access_notation(access: Access) -> str:
    """`x-atlas-access`: public, login, member, platform_admin, `<resource>:<action>`, `roles:a,b`, `x or y`."""
    if access.kind == "matrix":
        return f"{access.resource}:{access.action}" + (" or no org" if access.org_optional else "")
    if access.kind == "roles":
        return "roles:" + ",".join(access.roles)
    if access.kind == "either":
        return " or ".join(access_notation(a) for a in access.alternatives)
    if access.kind == "by_field":
        return "; ".join(f"{access.field}={value}: {access_notation(a)}" for value, a in access.choices)
    return access.kind


def summary_of(view: Any, declared: Endpoint) -> str:
    """The declaration's summary, else the docstring's first paragraph on one line."""
    doc = declared.summary or inspect.getdoc(view) or ""
    return " ".join(doc.split("\n\n", 1)[0].split())


def query_parameters(model: type[Query]) -> list[Schema]:
    """Each field of a query model as an OpenAPI query parameter (absent means its default)."""
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema["properties"].items():
        described = oas30(prop)
        description = described.pop("description", "")
        described.pop("nullable", None)  # a query parameter is absent or text, never null
        parameter: Schema = {"name": name, "in": "query", "required": name in required, "schema": described}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _operation_id(method: str, path: str) -> str:
    return method.lower() + "_" + re.sub(r"[^A-Za-z0-9]+", "_", path.removeprefix("/api/")).strip("_")


def _path_parameters(path: str) -> list[Schema]:
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{([^{}]+)}", path)]


def _bare_app() -> Flask:
    """The API's routes without services: enough to read the URL map and the views' declarations."""
    from app.api import BLUEPRINTS  # the view modules import app.api.spec's schemas: imported when asked

    app = Flask("atlas-openapi")
    for dotted in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(dotted).bp)
    return app


SCIM_ROOT = "/scim/v2/"


def declared_routes(app: Flask) -> Iterator[tuple[str, str, Any, Endpoint, Access]]:
    """(METHOD, OpenAPI path, view, declaration, access) of every declared API route (not the console's pages)."""
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        declared = endpoint_of(view)
        if declared is None or declared.access is None or rule.endpoint.startswith("console."):
            continue
        for method in sorted((rule.methods or set()) - _IGNORED_METHODS):
            yield method, openapi_path(rule.rule), view, declared, declared.access


def build_document(app: Flask | None = None, *, server_url: str | None = None) -> Schema:
    """The whole document for `app`'s routes (default: the API's blueprints); deterministic."""
    paths: dict[str, Schema] = {}
    bodies = []
    for method, path, view, declared, access in declared_routes(app or _bare_app()):
        if not declared.documented or path.startswith(SCIM_ROOT):  # another protocol: OAuth's (RFC 6749 errors), SCIM (describes itself, RFC 7644)
            continue
        item = paths.setdefault(path, {})
        if "{" in path and "parameters" not in item:
            item["parameters"] = _path_parameters(path)
        if declared.body is not None:
            bodies.append(declared.body)
        item[method.lower()] = operation(
            summary_of(view, declared), declared.tag, _operation_id(method, path), declared.response,
            status=declared.status, body=None if declared.body is None else declared.body.__name__,
            parameters=query_parameters(declared.query) if declared.query else None,
            access=access_notation(access), idempotent=declared.idempotent, media_type=declared.media_type)
    rows = {model.__name__.removesuffix("Create"): row_schema(ENTITIES[name]) for name, model in CREATE.items()}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Atlas API", "version": "1",
                 "description": "Multi-tenant CRM and organization API. Every request acts in the one "
                                "organization of its session; errors share one shape (Error)."},
        "servers": [{"url": server_url or "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {**RESPONSES, **rows, **body_components(sorted(set(bodies), key=lambda m: m.__name__))},
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
