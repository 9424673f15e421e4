"""CRM endpoints, generated from app.entities.ENTITIES: one set of views, a URL rule per entity.

    GET    /api/v1/<entity>        ?<filterable field>=v, sort (default created_at), order=asc|desc
                                   (default asc), limit 1..200 (default 50), cursor -> {data, nextCursor}
    GET    /api/v1/<entity>/<id>
    POST   /api/v1/<entity>        201 with the row and a Location header
    PATCH  /api/v1/<entity>/<id>   200 with the row
    DELETE /api/v1/<entity>/<id>   204, no body (the audit trail records who deleted which id)

Every member reads and writes. A row of another org, a missing row and a
malformed id all answer the same 404 from the same code path: the statement
names the session's org, so another org's row is simply not there.
"""
from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, g, request
from flask.typing import ResponseReturnValue

from app import audit
from app.api import get_cursors, get_db, session_scope
from app.api.spec.schemas import page_of, ref
from app.bodies import Body
from app.bodies.crm import CREATE, LIST, UPDATE, EntityPage, component_name
from app.crm import repository
from app.crm.writes import checked_write, validate_write
from app.db.statement_text import rendered
from app.endpoint import Endpoint, declare
from app.entities import ENTITIES, Entity
from app.errors import NotFoundError
from app.http import hot_reads, org_guard
from app.http.body import json_body
from app.http.responses import json_response, object_response
from app.paging import Pager
from app.permissions import MEMBER
from app.serialize import dumps, page_json

bp = Blueprint("crm", __name__, url_prefix="/api/v1")

PAGE_ARGS = frozenset({"sort", "order", "limit", "cursor"})


def path_id(raw: str, *, what: str) -> uuid.UUID:
    """The id in a path; a malformed one is a 404 like a missing row (nothing by that id exists)."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFoundError(f"{what} {raw[:100]} not found") from None


def label(entity: Entity) -> str:
    """The entity's name in audit actions and entity columns: `contact`, `knowledge_file`."""
    return (entity.singular or entity.name).replace(" ", "_").replace("-", "_")


def _knowledge_file(values: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """The server, not the client, says who uploaded a file and how big its body is."""
    if creating:
        values["created_by"] = g.identity.user_id
        values.setdefault("body", "")
    if "body" in values:
        values["size_bytes"] = len(values["body"].encode("utf-8"))
    return values


# Fields an entity's rows get from the server (declared writable=False in app/entities.py).
SERVER_SET: Mapping[str, Callable[..., dict[str, Any]]] = {"knowledge_files": _knowledge_file}


def _server_set(entity: Entity, values: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    derive = SERVER_SET.get(entity.table)
    return derive(dict(values), creating=creating) if derive else values


def list_rows(entity_name: str, args: EntityPage) -> ResponseReturnValue:
    """A keyset page; `nextCursor` is null on the last page. A first page is one round trip with the session."""
    entity = ENTITIES[entity_name]
    filters = {name: value for name, value in request.args.items() if name not in PAGE_ARGS}
    cursor = args.cursor or None
    # A cursor is signed for its org, so it is checked (the session resolved) before any SQL.
    org_id = hot_reads.identity_first().org_id if cursor else None
    pager = Pager(repository.keyset(entity, args.sort or None, descending=args.order == "desc"),
                  cursors=get_cursors(), org_id=org_id, limit=args.limit, cursor=cursor)
    params: dict[str, Any] = {}
    query = repository.list_statement(entity, pager, filters, params, org=hot_reads.ORG)
    (names, rows), = hot_reads.read([(query, params)])
    pager.org_id = g.identity.org_id
    rows, next_cursor = pager.cut(names, rows)
    return json_response(page_json(names, rows, next_cursor=next_cursor))


def get_row(entity_name: str, row_id: str) -> ResponseReturnValue:
    entity = ENTITIES[entity_name]
    target = path_id(row_id, what=label(entity))
    query = repository.get_statement(entity, org=hot_reads.ORG)
    (names, rows), = hot_reads.read([(query, {"id": target})])
    if not rows:
        raise NotFoundError(f"{entity.singular or entity.name} {target} not found")
    return json_response(dumps(dict(zip(names, rows[0]))))


def create_row(entity_name: str, body: Body) -> ResponseReturnValue:
    """Validate, insert in the session's org, audit in the same statement: with the session, one round trip."""
    entity = ENTITIES[entity_name]
    try:
        values = checked_write(entity, body)
    except BaseException:
        hot_reads.identity_first()  # a 401 or 403 comes before a 400 for a bad body
        raise
    row = _create_with_session(entity, values)
    if row is None:
        row = _create(entity, values)
    location = f"{request.script_root}{bp.url_prefix}/{entity.name}/{row['id']}"  # the item rule, as url_for builds it
    return object_response(row, 201, {"Location": location})


def _create_with_session(entity: Entity, values: dict[str, Any]) -> dict[str, Any] | None:
    """The session, the row and its audit row in one round trip (app/http/hot_reads.py), or None: write as usual."""
    if entity.table in SERVER_SET or org_guard.names_an_org():  # they need the identity before the write
        hot_reads.identity_first()
        return None
    names = tuple(values)
    query = rendered(("create-with-session", entity.name, names), lambda: audit.logged_with(
        repository.insert_in_session_org(entity, names, org=hot_reads.SESSION_ORG), actor=audit.SESSION_USER))
    params = {**values, **audit.entry_params(action=f"{label(entity)}.create", entity=label(entity),
                                              changed_fields=values)}
    with repository.reference_errors(entity):
        result = hot_reads.write(query, params)
    return None if result is None else dict(zip(result[0], result[1][0]))


def _create(entity: Entity, values: dict[str, Any]) -> dict[str, Any]:
    data = _server_set(entity, values, creating=True)
    db, ident = get_db(), g.identity
    # the row and its audit row as one statement: committed in one round trip, or in an Idempotency-Key's
    # transaction (a savepoint of it: the row, its audit and the key commit together)
    row_values = {**data, "org_id": ident.org_id}
    query = rendered(("create", entity.name, tuple(row_values)),
                     lambda: audit.logged_with(repository.insert_statement(entity, row_values)))
    params = {**row_values, **audit.entry_params(action=f"{label(entity)}.create", entity=label(entity),
                                                  changed_fields=values)}
    with repository.reference_errors(entity):
        return db.insert_returning(ident.org_id, user_id=ident.user_id, query=query, params=params)


def update_row(entity_name: str, row_id: str) -> ResponseReturnValue:
    """Change the named fields; the audit entry lists the fields the request wrote."""
    entity = ENTITIES[entity_name]
    target = path_id(row_id, what=label(entity))
    values = validate_write(entity, json_body(), partial=True)
    with session_scope() as scope:
        row = repository.update(scope, entity, target, _server_set(entity, values, creating=False))
        audit.record(scope, action=f"{label(entity)}.update", entity=label(entity),
                     entity_id=row["id"], changed_fields=values)
    return object_response(row)


def delete_row(entity_name: str, row_id: str) -> ResponseReturnValue:
    entity = ENTITIES[entity_name]
    target = path_id(row_id, what=label(entity))
    with session_scope() as scope:
        row = repository.delete(scope, entity, target)
        audit.record(scope, action=f"{label(entity)}.delete", entity=label(entity), entity_id=row["id"])
    return "", 204


# (suffix, methods, view, on the item path?) for every entity; endpoints are crm.<table>_<suffix>.
ROUTES: tuple[tuple[str, str, Callable[..., ResponseReturnValue], bool], ...] = (
    ("list", "GET", list_rows, False),
    ("create", "POST", create_row, False),
    ("get", "GET", get_row, True),
    ("update", "PATCH", update_row, True),
    ("delete", "DELETE", delete_row, True),
)

def declarations(entity: Entity) -> dict[str, Endpoint]:
    """The five views' contracts for one entity: its body and list models, its row schema, its summaries."""
    label_, name = entity.singular or entity.name, component_name(entity)
    row, tag = ref(name), entity.name
    return {
        "list": Endpoint(access=MEMBER, tag=tag, summary=f"List {entity.name} (keyset pages).", query=LIST[entity.name],
                         response=page_of(row), one_trip=True),
        "create": Endpoint(access=MEMBER, tag=tag, summary=f"Create a {label_}.", body=CREATE[entity.name],
                           response=row, status=201, one_trip=True, one_trip_write=True, idempotent=True),
        "get": Endpoint(access=MEMBER, tag=tag, summary=f"One {label_} (another org's id is a 404).", response=row,
                        one_trip=True),
        # reads_body: the row's id in the path answers first (a malformed one is a 404), and an empty patch
        # is refused before the model (app/crm/writes.py validate_write)
        "update": Endpoint(access=MEMBER, tag=tag, summary=f"Change fields of a {label_}.", body=UPDATE[entity.name],
                           response=row, reads_body=True),
        "delete": Endpoint(access=MEMBER, tag=tag, summary=f"Delete a {label_}.", response=None, status=204),
    }


def _declared(view: Callable[..., ResponseReturnValue], declaration: Endpoint) -> Callable[..., ResponseReturnValue]:
    """`view` for one entity, carrying that entity's declaration."""
    @functools.wraps(view)
    def entity_view(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        return view(*args, **kwargs)

    return declare(entity_view, declaration)


for _entity in ENTITIES.values():
    _declared_views = declarations(_entity)
    for _suffix, _method, _view, _item in ROUTES:
        bp.add_url_rule(
            f"/{_entity.name}/<row_id>" if _item else f"/{_entity.name}",
            endpoint=f"{_entity.table}_{_suffix}",
            view_func=_declared(_view, _declared_views[_suffix]),
            methods=[_method],
            defaults={"entity_name": _entity.name},
        )
