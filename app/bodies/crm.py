"""The CRM bodies and list queries, generated from app/entities.py: <Name>Create, <Name>Update, <Name>List.

Each writable field becomes a model field with the rule its kind calls for
(app/bodies/fields.py); a create requires the `required` fields, an update
requires none but at least one. Unknown fields are refused ("is not a field
of contacts"), server-set ones too ("is read-only").
"""
from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Annotated, Any, ClassVar

import pydantic

from app.bodies import Body
from app.bodies.fields import Amount, Choice, Email, Flag, Id, Integer, IsoDate, IsoDateTime, Text
from app.bodies.queries import Page
from app.bodies.query import OneOf
from app.entities import ENTITIES, Entity, Field


def rule(field: Field) -> Any:
    """The field's type with its rule, as an annotation (nullable columns also take null)."""
    kind = field.kind
    if kind in ("text", "email", "choice"):
        strip, blank = kind != "text", not field.required
        if kind == "email":
            annotated: Any = Annotated[str, Email(max_len=field.max_len, strip=strip, blank=blank)]
        elif kind == "choice":
            annotated = Annotated[str, Choice(options=field.choices, strip=True)]
        else:
            annotated = Annotated[str, Text(max_len=field.max_len, strip=strip, blank=blank, pattern=field.pattern,
                                            hint=field.pattern_hint)]
    elif kind == "int":
        annotated = Annotated[int, Integer(minimum=field.minimum, maximum=field.maximum)]
    elif kind == "decimal":
        annotated = Annotated[decimal.Decimal, Amount(minimum=field.minimum, maximum=field.maximum)]
    else:
        annotated = {"bool": Annotated[bool, Flag()], "date": Annotated[dt.date, IsoDate()],
                     "datetime": Annotated[dt.datetime, IsoDateTime()], "ref": Annotated[uuid.UUID, Id()]}[kind]
    return annotated | None if field.nullable and not field.required else annotated


class EntityBody(Body):
    """A CRM write: unknown and read-only fields are refused by name."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    _entity: ClassVar[Entity]

    @classmethod
    def unknown_field(cls, name: str) -> str:
        return "is read-only" if name in cls._entity.by_name else "is not a field of " + cls._entity.name


def component_name(entity: Entity) -> str:
    """`Contact`, `KnowledgeFile`: the entity's name in the OpenAPI components."""
    return "".join(part.capitalize() for part in (entity.singular or entity.name).replace("-", " ").split())


def _model(entity: Entity, *, partial: bool) -> type[EntityBody]:
    fields: dict[str, Any] = {
        f.name: (rule(f), ... if f.required and not partial else None) for f in entity.fields if f.writable}
    suffix = "Update" if partial else "Create"
    model = pydantic.create_model(f"{component_name(entity)}{suffix}", __base__=EntityBody, __module__=__name__,
                                  **fields)
    model._entity = entity
    model._subject = entity.singular or entity.name
    if partial:
        model.model_config["json_schema_extra"] = {"minProperties": 1}
        model.model_rebuild(force=True)
    return model


CREATE: dict[str, type[EntityBody]] = {name: _model(e, partial=False) for name, e in ENTITIES.items()}
UPDATE: dict[str, type[EntityBody]] = {name: _model(e, partial=True) for name, e in ENTITIES.items()}


class EntityPage(Page):
    """A CRM list's query string: the page, its order, and (besides these) the entity's filters."""

    order: Annotated[str, OneOf(options=("asc", "desc"))] = "asc"
    sort: str | None = None  # one of the entity's sortable fields (app/crm/repository.py checks it)


def _list_model(entity: Entity) -> type[EntityPage]:
    fields: dict[str, Any] = {
        f.name: (Annotated[str | None, pydantic.Field(description=f"only rows whose {f.name} equals this ({f.kind})")],
                 None) for f in entity.filterable.values()}
    fields["sort"] = (Annotated[str | None, pydantic.Field(json_schema_extra={
        "enum": list(entity.sortable), "default": entity.default_sort})], None)
    return pydantic.create_model(f"{component_name(entity)}List", __base__=EntityPage, __module__=__name__, **fields)


# The list's filters are checked by app/crm/repository.py against the entity (by kind); the model describes them.
LIST: dict[str, type[EntityPage]] = {name: _list_model(e) for name, e in ENTITIES.items()}
