"""No input answers 5xx: each hostile input found against `make demo` gets its 4xx, in the one error shape.

Deeply nested JSON (also before sign-in), deeply nested SQL, lone surrogates,
NaN, forged or misplaced keyset cursors on every list, and entity YAML with
tags or huge numbers, including a bad entity stored before the checks existed.
"""
from __future__ import annotations

import base64
import json
import uuid

import psycopg
import pytest
from flask import Flask

from app.config import Settings
from app.entities import ENTITIES
from app.errors.configuration import ConfigurationError
from app.gateway.parse import MAX_NESTING, MAX_TREE_DEPTH
from app.paging import MAX_CURSOR_CHARS
from tests.support.api import TwoOrgs, anonymous, close_app, make_app, two_org_world
from tests.test_error_shape import assert_error

ENTITY = "table: contacts\ndimensions:\n  - {name: id, sql: id, type: uuid}\n"


@pytest.fixture(scope="module")
def world(db_factory, tmp_path_factory):
    with two_org_world(db_factory, semantic_root=str(tmp_path_factory.mktemp("semantic"))) as built:
        admin = built.user("a", "admin")
        assert admin.put("/api/v1/admin/semantic/org/entities/contacts", json={"yamlContent": ENTITY}).status_code == 201
        for i in range(3):
            assert admin.post("/api/v1/contacts", json={"first_name": f"C{i}"}).status_code == 201
            assert admin.post("/api/v1/conversations", json={"title": f"T{i}"}).status_code == 201
        yield built


def send(world: TwoOrgs, method: str, path: str, raw_body: str, *, as_role: str | None = "admin"):  # type: ignore[no-untyped-def]
    """A request with a raw JSON text body (json.dumps cannot write what these tests send)."""
    headers = {"Content-Type": "application/json"}
    client = anonymous(world.app)
    if as_role is not None:
        user = world.user("a", as_role)
        client, headers["Authorization"] = user.client, f"Bearer {user.token}"
    return client.open(path, method=method, data=raw_body.encode("utf-8", "surrogatepass"), headers=headers)


# Every endpoint the issue names, with a body that is fine apart from the one value under test ("{v}").
BODIES = [
    (None, "POST", "/api/auth/sign-in/email", '{"email": {v}, "password": "correct horse battery"}'),
    (None, "POST", "/api/auth/sign-up/email", '{"email": "x@y.test", "password": "long enough pw", "name": {v}}'),
    ("member", "POST", "/api/v1/contacts", '{"first_name": {v}}'),
    ("member", "POST", "/api/v1/conversations", '{"title": {v}}'),
    ("member", "POST", "/api/v1/query", '{"sql": {v}}'),
    ("member", "POST", "/api/v1/semantic/explore", '{"command": "grep", "pattern": {v}}'),
    ("admin", "POST", "/api/auth/organization/invite-member", '{"email": {v}, "role": "member"}'),
    ("admin", "PUT", "/api/v1/admin/semantic/org/entities/contacts", '{"yamlContent": {v}}'),
]
BODY_IDS = [f"{m} {p}" for _, m, p, _ in BODIES]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [33, 1_000, 100_000])
@pytest.mark.parametrize(("role", "method", "path", "template"), BODIES, ids=BODY_IDS)
def test_deeply_nested_json_is_a_400_naming_the_limit(world, role, method, path, template, depth):
    r = send(world, method, path, template.replace("{v}", nested(depth)), as_role=role)
    assert "32 levels" in assert_error(r, 400, _validation(path))["message"]


def _validation(path: str) -> str:
    """Better Auth's code under /api/auth, Atlas's under /api/v1."""
    return "VALIDATION_ERROR" if path.startswith("/api/auth/") else "validation_error"


def test_json_nested_up_to_the_limit_reaches_the_endpoint(world):
    r = send(world, "POST", "/api/v1/contacts", '{"first_name": ' + nested(31) + "}", as_role="member")
    assert assert_error(r, 400, "validation_error")["fields"] == {"first_name": "must be a string"}


@pytest.mark.parametrize("value", ['"\\ud800"', '"a\\udfffb"', '"x\\ud83d"'], ids=["high", "low", "unpaired"])
@pytest.mark.parametrize(("role", "method", "path", "template"), BODIES, ids=BODY_IDS)
def test_a_lone_surrogate_in_any_json_string_is_a_400(world, role, method, path, template, value):
    r = send(world, method, path, template.replace("{v}", value), as_role=role)
    assert "surrogate" in assert_error(r, 400, _validation(path))["message"]


def test_a_lone_surrogate_in_a_key_or_nested_value_is_a_400(world):
    for body in ('{"\\ud800": 1}', '{"first_name": "a", "x": [{"y": "\\udc00"}]}'):
        assert_error(send(world, "POST", "/api/v1/contacts", body, as_role="member"), 400, "validation_error")


def test_a_surrogate_pair_is_one_character_and_is_stored(world):
    r = send(world, "POST", "/api/v1/contacts", '{"first_name": "smile \\ud83d\\ude00"}', as_role="member")
    assert r.status_code == 201 and r.get_json()["first_name"] == "smile \U0001F600"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(world, constant):
    r = send(world, "POST", "/api/v1/accounts", '{"name": "A", "annual_revenue": ' + constant + "}", as_role="member")
    assert constant in assert_error(r, 400, "validation_error")["message"]


@pytest.mark.parametrize("number", ["9" * 5_001, "1e400", "-1e400", "1" + "0" * 4_000])
def test_huge_numbers_are_client_errors(world, number):
    for path, field in (("/api/v1/accounts", "annual_revenue"), ("/api/v1/accounts", "employee_count")):
        r = send(world, "POST", path, '{"name": "A", "' + field + '": ' + number + "}", as_role="member")
        assert_error(r, 400)


# ----- SQL nesting ------------------------------------------------------------------------------------
DEEP_SQL = {
    "2000 parentheses": "SELECT " + "(" * 2_000 + "1" + ")" * 2_000 + " FROM contacts",
    "3000 unions": " UNION ".join(["SELECT 1 FROM contacts"] * 3_000),
    "3000 arrows": "SELECT first_name" + "->'a'" * 3_000 + " FROM contacts",
    "1000 NOTs": "SELECT 1 FROM contacts WHERE " + "NOT " * 1_000 + "true",
    "1000 CASEs": "SELECT " + "CASE WHEN true THEN " * 1_000 + "1" + " END" * 1_000 + " FROM contacts",
    "1000 function calls": "SELECT " + "coalesce(" * 1_000 + "1" + ")" * 1_000 + " FROM contacts",
    # sqlglot backtracks on nested ARRAY[...]: 18 levels took about a minute before the limit
    "20 ARRAY brackets": "SELECT " + "ARRAY[" * 20 + "1" + "]" * 20 + " FROM contacts",
    "5000 unclosed parentheses": "SELECT " + "(" * 5_000,
}


@pytest.mark.parametrize("sql_text", list(DEEP_SQL.values()), ids=list(DEEP_SQL))
def test_deeply_nested_sql_is_refused_naming_the_limit_and_audited(world, sql_text):
    admin = world.user("a", "admin")
    error = assert_error(admin.post("/api/v1/query", json={"sql": sql_text}), 400, "sql_rejected")
    assert f"at most {MAX_NESTING} levels" in error["message"] and f"{MAX_TREE_DEPTH} levels" in error["message"]
    audited = admin.get("/api/v1/admin/audit", query_string={"action": "query.refused", "limit": 1}).get_json()
    assert audited["data"][0]["detail"]["sql"] == sql_text[:100_000]
    assert audited["data"][0]["detail"]["code"] == "sql_rejected"


WITHIN_LIMITS = {
    "parentheses": "SELECT " + "(" * (MAX_NESTING - 2) + "1" + ")" * (MAX_NESTING - 2) + " AS n FROM contacts",
    "unions": " UNION ALL ".join(["SELECT 1 AS n FROM contacts"] * (MAX_TREE_DEPTH // 2)),
    "ORs": "SELECT 1 AS n FROM contacts WHERE " + " OR ".join(["first_name = 'C1'"] * (MAX_TREE_DEPTH // 2)),
    # PostgreSQL's arrays have at most 6 dimensions, below the gateway's bracket limit
    "brackets": "SELECT " + "ARRAY[" * 6 + "1" + "]" * 6 + " AS n FROM contacts",
}


@pytest.mark.parametrize("sql_text", list(WITHIN_LIMITS.values()), ids=list(WITHIN_LIMITS))
def test_sql_nested_within_the_limits_runs(world, sql_text):
    r = world.user("a", "member").post("/api/v1/query", json={"sql": sql_text})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["rowCount"] >= 1


# ----- cursors ----------------------------------------------------------------------------------------
LISTS = [f"/api/v1/{name}" for name in sorted(ENTITIES)] + ["/api/v1/conversations", "/api/v1/admin/audit"]


def unsigned(value: object) -> str:
    """A cursor in the old, unsigned format: base64url JSON [value, id]."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


FORGED = {
    "int and id": unsigned([1, str(uuid.uuid4())]),
    "object and id": unsigned([{"x": 1}, str(uuid.uuid4())]),
    "int and int": unsigned([1, 2]),
    "date object": unsigned([{"t": "2026-01-01T00:00:00+00:00"}, str(uuid.uuid4())]),
    "not base64": "%%%!!",
    "empty tag": unsigned(["datetime", "2026-01-01T00:00:00+00:00", str(uuid.uuid4())]) + ".",
    "huge": "A" * (MAX_CURSOR_CHARS + 1),
}


@pytest.mark.parametrize("cursor", list(FORGED.values()), ids=list(FORGED))
@pytest.mark.parametrize("path", LISTS)
def test_a_forged_cursor_is_a_400_on_every_list(world, path, cursor):
    r = world.user("a", "admin").get(path, query_string={"cursor": cursor})
    assert assert_error(r, 400, "validation_error")["fields"] == {"cursor": "is invalid"}


def first_cursor(world: TwoOrgs, path: str, org: str = "a", **query: object) -> str:
    r = world.user(org, "admin").get(path, query_string={"limit": 1, **query})
    assert r.status_code == 200 and r.get_json()["nextCursor"], r.get_json()
    return r.get_json()["nextCursor"]


@pytest.mark.parametrize("path", ["/api/v1/contacts", "/api/v1/conversations", "/api/v1/admin/audit"])
def test_a_changed_cursor_is_refused_and_the_real_one_pages_on(world, path):
    cursor = first_cursor(world, path)
    body, _, tag = cursor.partition(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload[2] = str(uuid.uuid4())
    forged = unsigned(payload) + "." + tag
    flipped = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")
    admin = world.user("a", "admin")
    for bad in (forged, flipped):
        assert_error(admin.get(path, query_string={"cursor": bad}), 400, "validation_error")
    assert admin.get(path, query_string={"cursor": cursor, "limit": 1}).status_code == 200


def test_a_cursor_belongs_to_its_list_order_and_org(world):
    admin_a, admin_b = world.user("a", "admin"), world.user("b", "admin")
    assert admin_b.post("/api/v1/contacts", json={"first_name": "B0"}).status_code == 201
    assert admin_b.post("/api/v1/contacts", json={"first_name": "B1"}).status_code == 201
    contacts = first_cursor(world, "/api/v1/contacts")
    by_name = first_cursor(world, "/api/v1/contacts", sort="first_name")
    misplaced = [
        (admin_a, "/api/v1/accounts", {"cursor": contacts}),
        (admin_a, "/api/v1/conversations", {"cursor": contacts}),
        (admin_a, "/api/v1/contacts", {"cursor": contacts, "order": "desc"}),
        (admin_a, "/api/v1/contacts", {"cursor": by_name}),
        (admin_b, "/api/v1/contacts", {"cursor": contacts}),
    ]
    for user, path, query in misplaced:
        assert_error(user.get(path, query_string=query), 400, "validation_error")
    assert admin_a.get("/api/v1/contacts", query_string={"cursor": by_name, "sort": "first_name"}).status_code == 200


def test_cursors_survive_a_restart_with_the_same_secret_only(world):
    """Two apps with one ATLAS_CURSOR_SECRET (two workers, or a restart) accept each other's cursors."""
    shared = "s" * 32

    def app_with(secret: str | None) -> Flask:
        return make_app(world.db, **({"cursor_secret": secret} if secret else {}))

    first, second, other = app_with(shared), app_with(shared), app_with(None)
    try:
        token = world.user("a", "admin").token
        headers = {"Authorization": f"Bearer {token}"}
        r = first.test_client().get("/api/v1/contacts?limit=1", headers=headers)
        cursor = r.get_json()["nextCursor"]
        assert second.test_client().get("/api/v1/contacts", query_string={"cursor": cursor},
                                        headers=headers).status_code == 200
        assert_error(other.test_client().get("/api/v1/contacts", query_string={"cursor": cursor},
                                             headers=headers), 400, "validation_error")
    finally:
        for app in (first, second, other):
            close_app(app)


# ----- entity YAML ------------------------------------------------------------------------------------
BAD_YAML = {
    "set on a mapping": "table: contacts\ndimensions:\n  - !!set {name: id, sql: id, type: uuid}\n",
    "omap on a list": "table: contacts\ndimensions: !!omap\n  - {name: id}\n",
    "custom tag on a list": "table: contacts\ndimensions: !foo\n  - {name: id, sql: id, type: uuid}\n",
    "set root": "--- !!set\ntable: contacts\ndimensions:\n  - {name: id, sql: id, type: uuid}\n",
    "str tag on a scalar": "table: !!str contacts\ndimensions:\n  - {name: id, sql: id, type: uuid}\n",
    "5001-digit row_count": ENTITY + "row_count: " + "9" * 5_001 + "\n",
    "row_count past bigint": ENTITY + "row_count: 9223372036854775808\n",
    "5001-digit sample": ENTITY.replace("type: uuid}", "type: uuid, sample_values: [" + "1" * 5_001 + "]}"),
    "13th month sample": ENTITY.replace("type: uuid}", "type: uuid, sample_values: [2026-13-45]}"),
}


@pytest.mark.parametrize("text", list(BAD_YAML.values()), ids=list(BAD_YAML))
def test_entity_yaml_with_tags_or_unbuildable_values_is_a_400(world, text):
    admin = world.user("a", "admin")
    r = admin.put("/api/v1/admin/semantic/org/entities/tagged", json={"yamlContent": text})
    assert_error(r, 400, "validation_error")
    assert admin.get("/api/v1/admin/semantic/org/entities/tagged").status_code == 404
    assert admin.post("/api/v1/query", json={"sql": "SELECT count(*) FROM contacts"}).status_code == 200


def test_an_unusable_stored_entity_is_a_409_naming_it_until_fixed(world):
    """A `--- !!set` root stored before these checks: queries answer 409 naming it, not 500; deleting it heals."""
    member, admin = world.user("b", "member"), world.user("b", "admin")
    assert admin.put("/api/v1/admin/semantic/org/entities/contacts", json={"yamlContent": ENTITY}).status_code == 201
    assert member.post("/api/v1/query", json={"sql": "SELECT count(*) FROM contacts"}).status_code == 200
    with psycopg.connect(world.db.admin_url, autocommit=True) as conn:
        conn.execute("INSERT INTO semantic_entities (org_id, name, yaml_content) VALUES (%s, 'legacy', %s)",
                     (world.org_b, BAD_YAML["set root"]))
    error = assert_error(member.post("/api/v1/query", json={"sql": "SELECT count(*) FROM contacts"}),
                         409, "semantic_layer_invalid")
    assert "'legacy'" in error["message"] and "/api/v1/admin/semantic/org/entities/legacy" in error["message"]
    assert admin.get("/api/v1/admin/semantic/org/entities").status_code == 200
    assert world.user("a", "member").post("/api/v1/query", json={"sql": "SELECT 1 FROM contacts"}).status_code == 200
    assert admin.delete("/api/v1/admin/semantic/org/entities/legacy").status_code == 204
    assert member.post("/api/v1/query", json={"sql": "SELECT count(*) FROM contacts"}).status_code == 200


def test_the_cursor_secret_is_read_from_the_environment_and_checked():
    configured = Settings.from_env({"ATLAS_CURSOR_SECRET": "k" * 32})
    assert configured.http.cursor_secret == "k" * 32 and "k" * 32 not in repr(configured)
    with pytest.raises(ConfigurationError, match="ATLAS_CURSOR_SECRET"):
        Settings.from_env({"ATLAS_CURSOR_SECRET": "short"})
    first, second = Settings.from_env({}), Settings.from_env({})
    assert first.http.cursor_secret != second.http.cursor_secret and len(first.http.cursor_secret) >= 32
    copied = first.model_copy(update={"cache": first.cache.model_copy(update={"ttl_s": 1.0})})
    assert copied.http.cursor_secret == first.http.cursor_secret  # workers share it


@pytest.mark.parametrize("path", ["/api/v1/contacts?last_name=%ED%A0%80", "/api/v1/contacts/%ED%A0%80",
                                  "/api/v1/admin/audit?action=%ED%A0%80%FF", "/api/v1/contacts?cursor=%ED%A0%80"])
def test_a_surrogate_or_invalid_utf8_in_the_url_is_never_a_server_error(world, path):
    r = world.user("a", "admin").get(path)
    assert r.status_code < 500, r.get_data(as_text=True)
