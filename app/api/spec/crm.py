"""The CRM rows as the API answers them, generated from app.entities.ENTITIES (a component per entity).

The request bodies and list queries are the generated models (app/bodies/crm.py);
the row as read is declared here, from the same fields (decimals are read back
as exact strings, written as numbers). The operations are the CRM views'
declarations (app/api/crm.py).
"""
from __future__ import annotations

from app.api.spec.schemas import STAMP, UUID, Schema, obj
from app.entities import Entity, Field

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
