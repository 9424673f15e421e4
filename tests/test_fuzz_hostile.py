"""Hostile input on every documented operation: status below 500, and errors in the one shape.

Schemathesis (tests/test_openapi.py) generates what the schemas describe and
their type violations; it never writes a 2,000-deep array, a lone surrogate, a
5,001-digit number, NaN, or a forged cursor, which are what answered 500
against `make demo` (issue 10). This run sends exactly those, as raw JSON text,
into every body property, every query parameter and every path parameter of
every operation in the served OpenAPI document, so a new endpoint is fuzzed
without anyone listing it. Fixed seed, bounded examples: a few seconds.
"""
from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from app.devdb import databases
from tests.support.api import TwoOrgs, two_org_world
from tests.support.errors import error_of, is_exact_error
from tests.test_openapi import _DOCUMENT, FUZZED, caller_for

MAX_EXAMPLES = 10  # per operation and role


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _nested(depth: int, kind: str) -> str:
    return "[" * depth + "]" * depth if kind == "array" else '{"a":' * depth + "1" + "}" * depth


# Raw JSON texts of values that once answered 500, and their neighbours.
HOSTILE_JSON = st.one_of(
    st.builds(_nested, st.sampled_from([31, 32, 33, 900, 2_000, 50_000]), st.sampled_from(["array", "object"])),
    st.sampled_from(['"\\ud800"', '"a\\udfff"', '"\\ud83d"', '{"\\udc00": 1}', '["ok", "\\ud800"]',
                     '"\\u0000"', "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e-400",
                     "9" * 5_001, "-" + "9" * 4_400, "9223372036854775808", "1.5", "true", "null", "[]", "{}",
                     '"' + "x" * 300 + '"']),
    st.builds(lambda v: json.dumps(v), st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=6)),
)

_ROW_ID = str(uuid.uuid4())
# Cursors in the old unsigned format (base64url JSON [value, id]) with a well-formed id, which is what
# reached SQL and answered 500, then anything else a client could send.
FORGED_CURSOR = st.one_of(
    st.builds(lambda v: _b64(json.dumps([v, _ROW_ID]).encode()),
              st.one_of(st.integers(), st.text(max_size=10), st.just({"x": 1}), st.just({"t": "2026-01-01"}),
                        st.just({"d": "NaN"}), st.none(), st.just([1]))),
    st.builds(lambda kind, v: _b64(json.dumps([kind, v, _ROW_ID]).encode()) + "." + "A" * 22,
              st.sampled_from(["datetime", "text", "int"]), st.one_of(st.integers(), st.text(max_size=5))),
    st.builds(lambda v, i: _b64(json.dumps([v, i]).encode()), st.integers(), st.integers() | st.text(max_size=5)),
    st.sampled_from(["", ".", "..", "%%%", "A" * 1_001, "W10.AAAAAAAAAAAAAAAAAAAAAA"]),
    st.text(max_size=40).filter(lambda t: not re.search("[\ud800-\udfff]", t)),
)

# Query and path text a URL can carry (a URL cannot carry a lone surrogate or, in the path, NUL).
URL_TEXT = st.one_of(
    st.sampled_from(["", "x", str(uuid.uuid4()), "9" * 5_001, "1e400", "NaN", "-1", "0", "true",
                     "%00", "\u00e9", "2026-13-45", "1" * 300]),
    st.text(max_size=30).filter(lambda t: not re.search("[\ud800-\udfff\x00/?#%]", t)),
)


def _body_properties(operation: dict[str, Any]) -> list[str]:
    """The property names of an operation's JSON body ([] when it takes none)."""
    schema = (operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema"))
    if schema is None:
        return []
    if "$ref" in schema:
        schema = _DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return sorted(schema.get("properties", {})) or ["value"]


@st.composite
def hostile_request(draw: Any, method: str, path: str) -> tuple[str, dict[str, str], str | None]:
    """(path with parameters filled, query string, raw body or None)."""
    operation = _DOCUMENT["paths"][path][method.lower()]
    filled = re.sub(r"\{[^}]+\}", lambda _: draw(URL_TEXT.filter(bool)) or "x", path)
    names_in_query = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"]
    query: dict[str, str] = {}
    if names_in_query:
        # The cursor alone half the time: other bad parameters would be refused before it is read.
        alone = st.just(["cursor"]) if "cursor" in names_in_query else st.nothing()
        for name in draw(alone | st.lists(st.sampled_from(names_in_query), max_size=3, unique=True)):
            query[name] = draw(FORGED_CURSOR if name == "cursor" else URL_TEXT)
    names = _body_properties(operation)
    body = None
    if names or method in ("POST", "PUT", "PATCH"):
        shape = draw(st.sampled_from(["one field", "every field", "whole body"]))
        if shape == "whole body" or not names:
            body = draw(HOSTILE_JSON)
        else:
            chosen = [draw(st.sampled_from(names))] if shape == "one field" else names
            body = "{" + ", ".join(f"{json.dumps(n)}: {draw(HOSTILE_JSON)}" for n in chosen) + "}"
    return filled, query, body


def assert_one_error_shape(response: Any) -> None:
    """`{"code", "message"[, "fields"]}` and no trace (messages may name SQL: the gateway's do)."""
    body = response.get_json()
    assert response.is_json and is_exact_error(body), body
    error = error_of(body)
    assert set(error) in ({"code", "message"}, {"code", "message", "fields"}), error
    assert isinstance(error["code"], str) and isinstance(error["message"], str) and error["message"]
    assert all(isinstance(v, str) for v in error.get("fields", {}).values()), error
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.fixture(scope="module")
def hostile_world(db_factory: databases.DatabaseFactory, tmp_path_factory: Any) -> Iterator[TwoOrgs]:
    with two_org_world(db_factory, semantic_root=str(tmp_path_factory.mktemp("semantic"))) as world:
        admin = world.user("a", "admin")
        for i in range(3):  # enough rows that lists have a next page
            assert admin.post("/api/v1/contacts", json={"first_name": f"C{i}"}).status_code == 201
            assert admin.post("/api/v1/conversations", json={"title": f"T{i}"}).status_code == 201
        yield world


@pytest.mark.parametrize(("role", "method", "path"), FUZZED, ids=[f"{r} {m} {p}" for r, m, p in FUZZED])
def test_hostile_input_never_gets_a_server_error(hostile_world: TwoOrgs, role: str, method: str, path: str) -> None:
    @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), phases=(Phase.explicit, Phase.generate))
    @given(request=hostile_request(method, path))
    def fuzz(request: tuple[str, dict[str, str], str | None]) -> None:
        filled, query, body = request
        caller = caller_for(hostile_world, role, method, path)
        headers = {"Authorization": f"Bearer {caller.token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        r = caller.client.open(filled, method=method, query_string=query, headers=headers,
                               data=None if body is None else body.encode("utf-8", "surrogatepass"))
        assert r.status_code < 500, (filled, query, body and body[:200], r.get_data(as_text=True)[:300])
        if r.status_code >= 400:
            assert_one_error_shape(r)

    fuzz()
