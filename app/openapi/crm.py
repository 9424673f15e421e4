"""The CRM part of the document, generated from app.entities.ENTITIES: five operations and a row per entity.

The request bodies are the generated models (app/bodies/crm.py); the row as
read is declared here, from the same fields (decimals are read back as exact
strings, written as numbers).
"""
from __future__ import annotations

from app.bodies.crm import component_name
from app.entities import Entity, Field
from app.openapi.operation import operation
from app.openapi.schemas import PAGE_QUERY, STAMP, UUID, Schema, obj, page_of, ref

_SCALARS: dict[str, Schema] = {"bool": {"type": "boolean"}, "date": {"type": "string", "format": "date"},
                               "datetime": STAMP, "ref": UUID, "int": {"type": "integer"},
                               "decimal": {"type": "string", "format": "decimal", "description": "an exact amount"}}


def read_schema(field: Field) -> Schema:
    """A column as the API answers it."""
    schema: Schema = dict(_SCALARS.get(field.kind, {"type": "string"}))
    if field.kind in ("text", "email", "choice") and field.max_len is not None:
        schema["maxLength"] = field.max_len
    if field.kind == "email":
        schema["format"] = "email"
    if field.kind == "choice":
        schema["enum"] = list(field.choices)
    if field.pattern is not None:
        schema["pattern"] = f"^(?:{field.pattern})$"
    if field.kind == "int":
        schema.update({k: v for k, v in (("minimum", field.minimum), ("maximum", field.maximum)) if v is not None})
    nullable = field.nullable and not field.required
    if nullable and "enum" in schema:
        schema["enum"] = [*schema["enum"], None]
    return {**schema, "nullable": True} if nullable else schema


def row_schema(entity: Entity) -> Schema:
    return obj(("id", "org_id"), id=UUID, org_id=UUID, **{f.name: read_schema(f) for f in entity.fields})


def query_param(name: str, schema: Schema, description: str = "") -> Schema:
    param: Schema = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        param["description"] = description
    return param


def _list_params(entity: Entity) -> list[Schema]:
    params = [query_param(f.name, {"type": "string"}, f"only rows whose {f.name} equals this ({f.kind})")
              for f in entity.filterable.values()]
    params.append(query_param("sort", {"type": "string", "enum": list(entity.sortable),
                                       "default": entity.default_sort}))
    params.append(query_param("order", {"type": "string", "enum": ["asc", "desc"], "default": "asc"}))
    params.extend(query_param(n, s) for n, s in PAGE_QUERY)
    return params


def crm_operations(entity: Entity) -> dict[str, Schema]:
    """The five CRUD operations of one entity, by path and method."""
    label, name, table, tag = entity.singular or entity.name, component_name(entity), entity.table, entity.name
    row_id = {"name": "row_id", "in": "path", "required": True, "schema": UUID}
    return {
        f"/api/v1/{entity.name}": {
            "get": operation(f"List {entity.name} (keyset pages)", tag, f"{table}_list", page_of(ref(name)),
                             parameters=_list_params(entity)),
            "post": operation(f"Create a {label}", tag, f"{table}_create", ref(name), status=201,
                              body=f"{name}Create", idempotent=True),
        },
        f"/api/v1/{entity.name}/{{row_id}}": {
            "parameters": [row_id],
            "get": operation(f"One {label} (another org's id is a 404)", tag, f"{table}_get", ref(name)),
            "patch": operation(f"Change fields of a {label}", tag, f"{table}_update", ref(name),
                               body=f"{name}Update"),
            "delete": operation(f"Delete a {label}", tag, f"{table}_delete", None, status=204),
        },
    }
