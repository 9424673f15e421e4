"""Keyset pages for every list (CRM entities, conversations, the audit trail), written once.

A list is ordered by one column and then `id` (`Keyset`); a page asks for the
rows after the last one it returned, by a WHERE term the (org_id, column, id)
indexes answer, never by OFFSET. The cursor handed to clients is opaque and
tamper-evident: base64url JSON `[kind, value, id]`, then an HMAC-SHA256 tag
(128 bits) over it and the list it belongs to (list, column, directions, org).
A cursor that was not issued for this very list and org, or was changed, is a
400 before any SQL runs; a signed one is still type-checked against the column.
The key is ATLAS_CURSOR_SECRET; without it each start of the server picks a
random one, so cursors then last until a restart.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from app.errors import ValidationError

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_CURSOR_CHARS = 1_000
_TAG_BYTES = 16
_DOMAIN = b"atlas-cursor-v1"



def _strict(json_type: type, convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A from-JSON conversion that first insists on the JSON type (no bool for int)."""
    def from_json(raw: Any) -> Any:
        if not isinstance(raw, json_type) or isinstance(raw, bool):
            raise TypeError("cursor value of the wrong type")
        return convert(raw)
    return from_json


# kind -> (type the column yields, to JSON, from JSON); a cursor's kind must be its column's.
_KINDS: dict[str, tuple[type, Callable[[Any], Any], Callable[[Any], Any]]] = {
    "datetime": (dt.datetime, dt.datetime.isoformat, _strict(str, dt.datetime.fromisoformat)),
    "date": (dt.date, dt.date.isoformat, _strict(str, dt.date.fromisoformat)),
    "decimal": (decimal.Decimal, str, _strict(str, decimal.Decimal)),
    "int": (int, int, _strict(int, int)),
    "text": (str, str, _strict(str, str)),
}


@dataclass(frozen=True)
class Keyset:
    """How a list is ordered: by `column` (of `kind`, see _KINDS), then by id.

    `list_name` names the list in the cursor's signature, so a cursor of one
    list (or sort order) is refused by every other.
    """

    list_name: str
    column: str
    kind: str
    descending: bool = False
    id_descending: bool = False

    def order_by(self) -> sql.Composable:
        return sql.SQL("{} {}, id {}").format(
            sql.Identifier(self.column), _direction(self.descending), _direction(self.id_descending))

    def after(self) -> sql.Composable:
        """Rows strictly after (%(page_after)s, %(page_after_id)s) in this order."""
        column = sql.Identifier(self.column)
        if self.descending == self.id_descending:
            return sql.SQL("({}, id) {} (%(page_after)s, %(page_after_id)s)").format(
                column, sql.SQL("<" if self.descending else ">"))
        return sql.SQL("({col} {op} %(page_after)s OR ({col} = %(page_after)s AND id {id_op} %(page_after_id)s))"
                       ).format(col=column, op=sql.SQL("<" if self.descending else ">"),
                                id_op=sql.SQL("<" if self.id_descending else ">"))

    def signed_context(self, org_id: object) -> bytes:
        """What a cursor's tag binds it to besides its payload."""
        parts = (self.list_name, self.column, self.kind, str(self.descending), str(self.id_descending), str(org_id))
        return b"\x00".join(part.encode() for part in parts)


def _direction(descending: bool) -> sql.Composable:
    return sql.SQL("DESC" if descending else "ASC")


@dataclass(frozen=True)
class Page:
    items: list[dict]
    next_cursor: str | None


class Cursors:
    """Signs and checks cursors with one key (every worker of a deployment must share it)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a cursor key needs at least 16 bytes")
        self._key = key

    def encode(self, keyset: Keyset, org_id: object, value: Any, row_id: uuid.UUID) -> str:
        to_json = _KINDS[keyset.kind][1]
        payload = json.dumps([keyset.kind, to_json(value), str(row_id)], separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._tag(keyset, org_id, payload))}"

    def decode(self, keyset: Keyset, org_id: object, cursor: str) -> tuple[Any, uuid.UUID]:
        """(value, id) of a cursor this list issued to this org; ValidationError for anything else."""
        try:
            if len(cursor) > MAX_CURSOR_CHARS:
                raise ValueError("too long")
            body, _, tag = cursor.partition(".")
            payload = _unb64(body)
            if not hmac.compare_digest(_unb64(tag), self._tag(keyset, org_id, payload)):
                raise ValueError("signature")
            kind, raw, row_id = json.loads(payload)
            python_type, _, from_json = _KINDS[keyset.kind]
            value = from_json(raw)
            if kind != keyset.kind or not isinstance(value, python_type) or not isinstance(row_id, str):
                raise ValueError("kind")
            return value, uuid.UUID(row_id)
        except (ValueError, TypeError, KeyError, binascii.Error, decimal.InvalidOperation):
            raise ValidationError(
                "cursor is not one this list issued (cursors are tied to a list, its sort order and the "
                "organization, and end when ATLAS_CURSOR_SECRET changes); start again without a cursor",
                details={"fields": {"cursor": "is invalid"}}) from None

    def _tag(self, keyset: Keyset, org_id: object, payload: bytes) -> bytes:
        message = b"\x00".join((_DOMAIN, keyset.signed_context(org_id), payload))
        return hmac.new(self._key, message, hashlib.sha256).digest()[:_TAG_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    """Strict: only the one spelling _b64 writes (base64 would ignore changed padding bits)."""
    raw = base64.urlsafe_b64decode(text.encode("ascii") + b"=" * (-len(text) % 4))
    if _b64(raw) != text:
        raise ValueError("not canonical base64url")
    return raw


class Pager:
    """One page request: `select` builds the statement, `page` cuts the rows and signs the next cursor."""

    def __init__(self, keyset: Keyset, *, cursors: Cursors, org_id: object, limit: int = DEFAULT_LIMIT,
                 cursor: str | None = None) -> None:
        if not 1 <= limit <= MAX_LIMIT:
            raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}",
                                  details={"fields": {"limit": f"must be between 1 and {MAX_LIMIT}"}})
        self.keyset, self.cursors, self.org_id, self.limit = keyset, cursors, org_id, limit
        self.after = cursors.decode(keyset, org_id, cursor) if cursor else None

    def select(self, *, columns: sql.Composable, table: sql.Composable, where: list[sql.Composable],
               params: dict[str, Any]) -> sql.Composed:
        """SELECT columns FROM table WHERE where [AND after the cursor] ORDER BY ... LIMIT limit + 1."""
        self.bind(params)
        terms = list(where)
        if self.after is not None:
            terms.append(self.keyset.after())
        return sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT %(page_limit)s").format(
            columns, table, sql.SQL(" AND ").join(terms), self.keyset.order_by())

    def bind(self, params: dict[str, Any]) -> None:
        """The page's values for `select`'s statement: the cursor's position and the limit."""
        if self.after is not None:
            params["page_after"], params["page_after_id"] = self.after
        params["page_limit"] = self.limit + 1  # one more row says whether a next page exists

    def cut(self, names: list[str], rows: list[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], str | None]:
        """As `page`, for rows as tuples with their column names: (the page's rows, next cursor or None)."""
        if len(rows) <= self.limit:
            return rows, None
        rows = rows[:self.limit]
        last = rows[-1]
        value, row_id = last[names.index(self.keyset.column)], last[names.index("id")]
        return rows, self.cursors.encode(self.keyset, self.org_id, value, row_id)

    def page(self, rows: list[dict]) -> Page:
        if len(rows) <= self.limit:
            return Page(rows, None)
        rows = rows[:self.limit]
        last = rows[-1]
        return Page(rows, self.cursors.encode(self.keyset, self.org_id, last[self.keyset.column], last["id"]))
