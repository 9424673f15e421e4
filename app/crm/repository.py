"""CRM repository: list, get, create, update, delete for every declared entity.

Every statement runs inside an org-scoped transaction (app/db/__init__.py Scope) AND
names the org explicitly (`org_id = %(org_id)s`): RLS is the lock, the
explicit predicate the second one, and it lets the planner use the
(org_id, ...) indexes directly. Identifiers come from app/entities.py
through psycopg.sql; values are always parameters.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from app.crm.writes import coerce_filter
from app.db import Scope
from app.db.statement_text import rendered, shape
from app.entities import Entity
from app.errors import NotFoundError, ValidationError
from app.paging import DEFAULT_LIMIT, MAX_LIMIT, Cursors, Keyset, Page, Pager

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Page", "create", "delete", "get", "keyset", "list_rows", "update"]


def _table(entity: Entity) -> sql.Identifier:
    return sql.Identifier(entity.table)


def _columns(entity: Entity) -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, entity.columns))


def _org(scope: Scope) -> uuid.UUID:
    assert scope.org_id is not None, "repository functions need an org-scoped transaction"
    return scope.org_id


def get(scope: Scope, entity: Entity, row_id: uuid.UUID) -> dict:
    """One row of the scope's org; another org's id is NotFound, like a missing one."""
    query = sql.SQL("SELECT {} FROM {} WHERE org_id = %(org_id)s AND id = %(id)s").format(
        _columns(entity), _table(entity))
    return _one_or_not_found(scope, entity, query, {"org_id": _org(scope), "id": row_id}, row_id)


# Field kinds as the paginator types cursor values.
_CURSOR_KINDS = {"int": "int", "decimal": "decimal", "date": "date", "datetime": "datetime"}


def keyset(entity: Entity, sort: str | None = None, *, descending: bool = False) -> Keyset:
    """The entity list's order: by `sort` (a sortable field, default the entity's), then id, one direction."""
    sort = sort or entity.default_sort
    if sort not in entity.sortable:
        raise ValidationError(f"cannot sort by {sort!r}; sortable: {', '.join(entity.sortable)}",
                              details={"fields": {"sort": "is not sortable"}})
    return Keyset(entity.name, sort, _CURSOR_KINDS.get(entity.by_name[sort].kind, "text"),
                  descending=descending, id_descending=descending)


def list_rows(
    scope: Scope,
    entity: Entity,
    *,
    cursors: Cursors,
    filters: Mapping[str, str] | None = None,
    sort: str | None = None,
    descending: bool = False,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page:
    """A keyset page ordered by (sort, id): stable under concurrent inserts, no OFFSET scans.

    Rows whose sort column is NULL are not listed when sorting by a nullable column.
    """
    pager = Pager(keyset(entity, sort, descending=descending), cursors=cursors, org_id=_org(scope),
                  limit=limit, cursor=cursor)
    params: dict[str, Any] = {"org_id": _org(scope)}
    query = list_statement(entity, pager, filters, params, org=sql.SQL("org_id = %(org_id)s"))
    return pager.page(scope.fetch_all(query, params))


def list_statement(entity: Entity, pager: Pager, filters: Mapping[str, str] | None, params: dict[str, Any],
                   *, org: sql.Composable) -> str:
    """The page's SELECT (its values added to `params`); `org` is the explicit org predicate."""
    names: list[str] = []
    for i, (name, raw) in enumerate((filters or {}).items()):
        field = entity.filterable.get(name)
        if field is None:
            raise ValidationError(f"cannot filter by {name!r}; filterable: {', '.join(entity.filterable)}",
                                  details={"fields": {name: "is not filterable"}})
        params[f"f{i}"] = coerce_filter(field, raw)
        names.append(name)
    pager.bind(params)

    def build() -> sql.Composed:
        where: list[sql.Composable] = [org, sql.SQL("{} IS NOT NULL").format(sql.Identifier(pager.keyset.column))]
        where += [sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder(f"f{i}"))
                  for i, name in enumerate(names)]
        return pager.select(columns=_columns(entity), table=_table(entity), where=where, params={})

    key = ("list", entity.name, shape(org), pager.keyset, pager.after is not None, tuple(names))
    return rendered(key, build)


def get_statement(entity: Entity, *, org: sql.Composable) -> str:
    """One row by %(id)s; `org` is the explicit org predicate."""
    return rendered(("get", entity.name, shape(org)), lambda: sql.SQL("SELECT {} FROM {} WHERE {} AND id = %(id)s")
                    .format(_columns(entity), _table(entity), org))


def create(scope: Scope, entity: Entity, values: Mapping[str, Any]) -> dict:
    """Insert a row into the scope's org; the org comes from the scope, never from input."""
    data = {**values, "org_id": _org(scope)}
    try:
        return scope.fetch_one(insert_statement(entity, data), data)  # type: ignore[return-value]  # RETURNING always yields the inserted row
    except psycopg.errors.ForeignKeyViolation as exc:
        raise _reference_error(entity, exc) from None


def insert_statement(entity: Entity, data: Mapping[str, Any]) -> sql.Composed:
    """INSERT of `data`'s columns (%(name)s each) RETURNING the entity's columns."""
    names = list(data)
    return sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING {}").format(
        _table(entity), sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(", ").join(map(sql.Placeholder, names)), _columns(entity))


def insert_in_session_org(entity: Entity, names: tuple[str, ...], *, org: sql.Composable) -> sql.Composed:
    """INSERT of `names` (%(name)s each) with org_id `org`, RETURNING the entity's columns.

    `org` is an expression of the transaction's org (app/http/hot_reads.py SESSION_ORG), NULL when the
    transaction has none: then the insert fails (NOT NULL, and the policy's WITH CHECK) and writes nothing.
    """
    return sql.SQL("INSERT INTO {} ({}, org_id) VALUES ({}, {}) RETURNING {}").format(
        _table(entity), sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(", ").join(map(sql.Placeholder, names)), org, _columns(entity))


@contextmanager
def reference_errors(entity: Entity) -> Iterator[None]:
    """Inside, a foreign-key violation becomes the field error `create` raises."""
    try:
        yield
    except psycopg.errors.ForeignKeyViolation as exc:
        raise _reference_error(entity, exc) from None


def update(scope: Scope, entity: Entity, row_id: uuid.UUID, values: Mapping[str, Any]) -> dict:
    """Change the named fields of one row of the scope's org; NotFound otherwise."""
    assignments: list[sql.Composable] = [
        sql.SQL("{} = {}").format(sql.Identifier(n), sql.Placeholder(n)) for n in values]
    if "updated_at" in entity.by_name:
        assignments.append(sql.SQL("updated_at = now()"))
    query = sql.SQL("UPDATE {} SET {} WHERE org_id = %(__org)s AND id = %(__id)s RETURNING {}").format(
        _table(entity), sql.SQL(", ").join(assignments), _columns(entity))
    try:
        return _one_or_not_found(scope, entity, query, {**values, "__org": _org(scope), "__id": row_id}, row_id)
    except psycopg.errors.ForeignKeyViolation as exc:
        raise _reference_error(entity, exc) from None


def delete(scope: Scope, entity: Entity, row_id: uuid.UUID) -> dict:
    """Delete one row of the scope's org and return it; NotFound otherwise."""
    query = sql.SQL("DELETE FROM {} WHERE org_id = %(org_id)s AND id = %(id)s RETURNING {}").format(
        _table(entity), _columns(entity))
    return _one_or_not_found(scope, entity, query, {"org_id": _org(scope), "id": row_id}, row_id)


def _one_or_not_found(scope: Scope, entity: Entity, query: sql.Composed, params: dict, row_id: object) -> dict:
    """The statement's one row; none means not in this org, reported exactly like a missing id."""
    row = scope.fetch_one(query, params)
    if row is None:
        raise NotFoundError(f"{entity.singular or entity.name} {row_id} not found")
    return row


def _reference_error(entity: Entity, exc: psycopg.errors.ForeignKeyViolation) -> ValidationError:
    """A reference to a row that is not in this org: a field error, indistinguishable from a missing row."""
    column = None
    constraint = getattr(exc.diag, "constraint_name", None) or ""
    for name, field in entity.by_name.items():
        if field.kind == "ref" and name in constraint:
            column = name
    column = column or "reference"
    return ValidationError(f"{column} does not name an existing row of this organization",
                           details={"fields": {column: "does not exist"}})
