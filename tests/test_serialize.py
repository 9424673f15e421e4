"""The orjson bodies of the hot paths are today's bodies: same keys in the same order, same values.

"Today's" is what the app sent before (app.serialize.row_json through the app's own Flask
JSON provider). Every CRM entity, conversations and messages are read from PostgreSQL
with values of every kind a column holds (timestamps with and without microseconds,
exact decimals with trailing zeros, dates, booleans, NULLs, non-ASCII and quoted text),
then rendered both ways. The bytes must be equal once string escapes are spelled alike
(Flask escapes non-ASCII as \\uXXXX, orjson writes UTF-8: the same JSON string).
"""
from __future__ import annotations

import json

import psycopg
import pytest
from psycopg import sql

from app.entities import ENTITIES
from app.http.responses import json_response
from app.serialize import dumps, page_json, row_json, rows_json
from tests.support.api import close_app, make_app

TEXT = 'naïve "quoted" \\ ✓ 名前 </script>'
# field kind -> two SQL values of the column's type (the second row's value, then NULL where allowed)
VALUES = {
    "text": (sql.Literal(TEXT), sql.Literal("plain")),
    "email": (sql.Literal("ünïcode@example.test"), sql.Literal("a@b.test")),
    "choice": (sql.Literal("x"), sql.Literal("y")),
    "int": (sql.SQL("0"), sql.SQL("2147483647")),
    "decimal": (sql.SQL("1200.50::numeric(16,2)"), sql.SQL("0.000100::numeric")),
    "date": (sql.SQL("'2026-02-28'::date"), sql.SQL("'1999-12-31'::date")),
    "datetime": (sql.SQL("'2026-03-01 09:30:00+00'::timestamptz"),
                 sql.SQL("'2026-03-01 09:30:00.120300+05:30'::timestamptz")),
    "bool": (sql.SQL("true"), sql.SQL("false")),
    "ref": (sql.SQL("gen_random_uuid()"), sql.SQL("NULL::uuid")),
}


def _rows(conn: psycopg.Connection, columns: list[tuple[str, str]]) -> tuple[list[str], list[tuple]]:
    """Three rows of the given (name, kind) columns as PostgreSQL returns them: first values, second, NULLs."""
    selects = []
    for variant in (0, 1, 2):
        parts = []
        for name, kind in columns:
            value = sql.SQL("NULL") if variant == 2 and name not in ("id", "org_id") else VALUES[kind][min(variant, 1)]
            parts.append(sql.SQL("{} AS {}").format(value, sql.Identifier(name)))
        selects.append(sql.SQL("SELECT ") + sql.SQL(", ").join(parts))
    cur = conn.cursor().execute(sql.SQL(" UNION ALL ").join(selects))
    return [d.name for d in cur.description or ()], cur.fetchall()


def _kinds(entity_name: str) -> list[tuple[str, str]]:
    entity = ENTITIES[entity_name]
    return [("id", "ref"), ("org_id", "ref"), *((f.name, f.kind) for f in entity.fields)]


SHAPES = {name: _kinds(name) for name in ENTITIES}
SHAPES["conversations"] = [("id", "ref"), ("org_id", "ref"), ("title", "text"), ("created_by", "ref"),
                           ("created_at", "datetime"), ("updated_at", "datetime")]


@pytest.fixture(scope="module")
def app_and_conn(template_db):
    app = make_app(template_db)
    with psycopg.connect(template_db.admin_url, autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'Europe/Berlin'")  # an offset that is not +00:00, with DST
        yield app, conn
    close_app(app)


def _same(new: bytes, old: bytes) -> None:
    assert list(json.loads(new).items()) == list(json.loads(old).items())  # keys, order, values
    respelled = json.dumps(json.loads(new), separators=(",", ":")).encode() + b"\n"
    assert respelled == old


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_page_is_encoded_exactly_as_before(app_and_conn, shape):
    app, conn = app_and_conn
    names, rows = _rows(conn, SHAPES[shape])
    dicts = [dict(zip(names, row)) for row in rows]
    with app.app_context():
        old = app.json.response({"data": rows_json(dicts), "nextCursor": "abc.def"}).get_data()
        new = json_response(page_json(names, rows, next_cursor="abc.def")).get_data()
        _same(new, old)
        for row in dicts:
            _same(json_response(dumps(row)).get_data(), app.json.response(row_json(row)).get_data())


def test_a_conversation_with_its_messages_is_encoded_exactly_as_before(app_and_conn):
    app, conn = app_and_conn
    names, rows = _rows(conn, SHAPES["conversations"])
    message_names, messages = _rows(conn, [("id", "ref"), ("conversation_id", "ref"), ("role", "choice"),
                                           ("content", "text"), ("created_by", "ref"), ("created_at", "datetime")])
    head = dict(zip(names, rows[1]))
    with app.app_context():
        old = app.json.response({**row_json(head), "messages": rows_json(
            [dict(zip(message_names, m)) for m in messages])}).get_data()
        new = json_response(dumps({**head, "messages": [dict(zip(message_names, m)) for m in messages]})).get_data()
    _same(new, old)


def test_a_decimal_is_never_written_as_a_float():
    from decimal import Decimal
    assert dumps({"amount": Decimal("1200.50")}) == b'{"amount":"1200.50"}'
