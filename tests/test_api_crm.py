"""CRM endpoints through the whole stack: CRUD per entity, keyset pages, validation, audit entries.

Cases are generated from app.entities.ENTITIES: a new entity or field is
exercised without anyone adding it here.
"""
from __future__ import annotations

import uuid

import psycopg
import psycopg.rows
import pytest
from psycopg import sql

from app.entities import ENTITIES
from tests.support.api import anonymous
from tests.support.api_module import audit_rows, refs_in, same_value, sample_body
from tests.support.errors import error_of

ENTITY_NAMES = sorted(ENTITIES)


def db_row(admin_url: str, table: str, row_id: str) -> dict | None:
    with psycopg.connect(admin_url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(sql.SQL("SELECT * FROM {} WHERE id = %s").format(sql.Identifier(table)),
                            (row_id,)).fetchone()


def assert_fields(entity, sent: dict, got: dict) -> None:
    fields = entity.by_name
    mismatched = {k: (v, got.get(k)) for k, v in sent.items() if not same_value(fields[k], v, got.get(k))}
    assert not mismatched, mismatched


@pytest.mark.parametrize("name", ENTITY_NAMES)
def test_crud_round_trip_writes_reads_and_audits_every_field(shared_orgs, name):
    entity, user = ENTITIES[name], shared_orgs.user("a", "member")
    with psycopg.connect(shared_orgs.db.admin_url, autocommit=True) as conn:
        refs_1, refs_2 = (refs_in(conn, shared_orgs, "a", entity) for _ in range(2))
    created_body = sample_body(entity, variant=1, refs=refs_1)

    r = user.post(f"/api/v1/{name}", json=created_body, headers={"X-Request-Id": f"create-{name}"})
    assert r.status_code == 201, r.get_json()
    row = r.get_json()
    assert_fields(entity, created_body, row)
    assert row["org_id"] == str(shared_orgs.org_a)
    assert r.headers["Location"] == f"/api/v1/{name}/{row['id']}"
    assert user.get(r.headers["Location"]).get_json() == row

    patch_body = sample_body(entity, variant=2, refs=refs_2)
    r = user.patch(f"/api/v1/{name}/{row['id']}", json=patch_body, headers={"X-Request-Id": f"update-{name}"})
    assert r.status_code == 200, r.get_json()
    assert_fields(entity, patch_body, r.get_json())
    stored = db_row(shared_orgs.db.admin_url, entity.table, row["id"])
    assert stored is not None and stored["org_id"] == shared_orgs.org_a
    assert_fields(entity, patch_body, user.get(f"/api/v1/{name}/{row['id']}").get_json())

    r = user.delete(f"/api/v1/{name}/{row['id']}", headers={"X-Request-Id": f"delete-{name}"})
    assert r.status_code == 204 and r.data == b""
    assert user.get(f"/api/v1/{name}/{row['id']}").status_code == 404
    assert db_row(shared_orgs.db.admin_url, entity.table, row["id"]) is None

    trail = audit_rows(shared_orgs.db.admin_url, shared_orgs.org_a, entity_id=row["id"])
    label = entity.singular.replace(" ", "_")
    assert [(e["action"], e["request_id"], e["actor_user_id"], e["outcome"]) for e in trail] == [
        (f"{label}.{verb}", f"{verb}-{name}", user.user_id, "ok") for verb in ("create", "update", "delete")]
    assert [e["changed_fields"] for e in trail] == [sorted(created_body), sorted(patch_body), []]


def test_knowledge_file_size_and_uploader_are_set_by_the_server(shared_orgs):
    user = shared_orgs.user("a", "admin")
    body = {"title": "Guide", "filename": f"g-{uuid.uuid4().hex[:8]}.md", "body": "héllo"}
    created = user.post("/api/v1/knowledge-files", json=body).get_json()
    assert (created["size_bytes"], created["created_by"]) == (6, str(user.user_id))
    patched = user.patch(f"/api/v1/knowledge-files/{created['id']}", json={"body": "abc"}).get_json()
    assert (patched["size_bytes"], patched["created_by"]) == (3, str(user.user_id))
    r = user.post("/api/v1/knowledge-files", json={**body, "size_bytes": 1, "created_by": str(uuid.uuid4())})
    assert r.status_code == 400
    assert error_of(r)["fields"] == {"size_bytes": "is read-only", "created_by": "is read-only"}


def test_pages_walk_every_row_once_in_order_with_filters(shared_orgs):
    user = shared_orgs.user("a", "member")
    industry = f"paging-{uuid.uuid4().hex[:8]}"
    names = [f"Acct {i:02d}" for i in range(7)]
    for n in reversed(names):
        assert user.post("/api/v1/accounts", json={"name": n, "industry": industry}).status_code == 201
    user.post("/api/v1/accounts", json={"name": "Acct 00 other industry", "industry": "other"})

    for order, expected in (("asc", names), ("desc", names[::-1])):
        seen, cursor, pages = [], None, 0
        while True:
            query = {"industry": industry, "sort": "name", "order": order, "limit": 3}
            if cursor:
                query["cursor"] = cursor
            r = user.get("/api/v1/accounts", query_string=query)
            assert r.status_code == 200, r.get_json()
            body = r.get_json()
            assert len(body["data"]) <= 3
            seen += [row["name"] for row in body["data"]]
            pages, cursor = pages + 1, body["nextCursor"]
            if cursor is None:
                break
        assert (seen, pages) == (expected, 3)


def test_default_limit_is_50_and_at_most_200(shared_orgs):
    user = shared_orgs.user("a", "member")
    city = f"city-{uuid.uuid4().hex[:6]}"
    with psycopg.connect(shared_orgs.db.admin_url, autocommit=True) as conn:
        conn.execute("INSERT INTO sites (org_id, name, city) SELECT %s, 'S' || g, %s FROM generate_series(1, 201) g",
                     (shared_orgs.org_a, city))
    first = user.get("/api/v1/sites", query_string={"city": city}).get_json()
    assert len(first["data"]) == 50 and first["nextCursor"]
    widest = user.get("/api/v1/sites", query_string={"city": city, "limit": 200}).get_json()
    assert len(widest["data"]) == 200 and widest["nextCursor"]
    rest = user.get("/api/v1/sites", query_string={"city": city, "limit": 200, "cursor": widest["nextCursor"]})
    assert len(rest.get_json()["data"]) == 1 and rest.get_json()["nextCursor"] is None


@pytest.mark.parametrize("query, field", [
    ({"limit": 201}, "limit"), ({"limit": 0}, "limit"), ({"limit": "ten"}, "limit"),
    ({"order": "sideways"}, "order"), ({"sort": "phone"}, "sort"), ({"phone": "555"}, "phone"),
    ({"email": "not-an-email"}, "email"), ({"account_id": "nope"}, "account_id"),
    ({"lifecycle_stage": "alien"}, "lifecycle_stage"), ({"cursor": "garbage!"}, "cursor"),
])
def test_bad_list_parameters_are_400_naming_the_parameter(shared_orgs, query, field):
    r = shared_orgs.user("a", "member").get("/api/v1/contacts", query_string=query)
    assert r.status_code == 400
    assert error_of(r)["code"] == "validation_error"
    assert field in error_of(r)["fields"]


@pytest.mark.parametrize("name", ENTITY_NAMES)
def test_create_without_required_fields_names_each_of_them(shared_orgs, name):
    r = shared_orgs.user("a", "member").post(f"/api/v1/{name}", json={})
    required = {f.name for f in ENTITIES[name].fields if f.required}
    assert r.status_code == 400
    assert error_of(r)["fields"] == dict.fromkeys(required, "is required")


@pytest.mark.parametrize("body, fields", [
    ({"first_name": 7}, {"first_name": "must be a string"}),
    ({"first_name": "Ann", "email": "nope"}, {"email": "must be an email address"}),
    ({"first_name": "Ann", "lifecycle_stage": "alien"}, {"lifecycle_stage": "must be one of: subscriber, lead, "
                                                         "customer, evangelist, other"}),
    ({"first_name": "Ann", "shoe_size": 44}, {"shoe_size": "is not a field of contacts"}),
    ({"first_name": "Ann", "created_at": "2020-01-01T00:00:00Z"}, {"created_at": "is read-only"}),
    ({"first_name": "Ann", "account_id": "12"}, {"account_id": "must be an id (a UUID string)"}),
    ({"first_name": " ", "email": 3}, {"first_name": "must not be empty", "email": "must be a string"}),
])
def test_invalid_create_is_400_with_a_message_per_field_and_writes_nothing(shared_orgs, body, fields):
    user = shared_orgs.user("a", "member")
    before = len(audit_rows(shared_orgs.db.admin_url, shared_orgs.org_a))
    r = user.post("/api/v1/contacts", json=body)
    assert r.status_code == 400
    assert error_of(r)["fields"] == fields
    assert len(audit_rows(shared_orgs.db.admin_url, shared_orgs.org_a)) == before


def test_a_body_naming_the_sessions_own_org_passes_the_guard_but_org_id_is_not_writable(shared_orgs):
    r = shared_orgs.user("a", "member").post(
        "/api/v1/contacts", json={"first_name": "Ann", "org_id": str(shared_orgs.org_a)})
    assert r.status_code == 400
    assert error_of(r)["fields"] == {"org_id": "is not a field of contacts"}


def test_invalid_patch_names_fields_and_leaves_the_row_alone(shared_orgs):
    user = shared_orgs.user("a", "member")
    lead = user.post("/api/v1/leads", json={"first_name": "Lee", "score": 10}).get_json()
    r = user.patch(f"/api/v1/leads/{lead['id']}", json={"score": 101, "status": "zombie"})
    assert r.status_code == 400
    assert set(error_of(r)["fields"]) == {"score", "status"}
    assert user.patch(f"/api/v1/leads/{lead['id']}", json={}).status_code == 400
    assert user.get(f"/api/v1/leads/{lead['id']}").get_json() == lead


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("raw_id", ["not-a-uuid", "1", "' OR 1=1 --"])
def test_a_malformed_id_is_404_like_a_missing_row(shared_orgs, method, raw_id):
    user = shared_orgs.user("a", "member")
    call = {"GET": user.get, "PATCH": user.patch, "DELETE": user.delete}[method]
    kw = {"json": {"title": "x"}} if method == "PATCH" else {}
    r = call(f"/api/v1/contacts/{raw_id}", **kw)
    assert r.status_code == 404
    assert r.get_json() == {"code": "not_found", "message": f"contact {raw_id} not found"}


def test_a_body_that_is_not_a_json_object_is_400(shared_orgs):
    user = shared_orgs.user("a", "member")
    r = user.post("/api/v1/notes", data="body=hi", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400 and error_of(r)["code"] == "validation_error"
    r = user.post("/api/v1/notes", json=["body"])
    assert r.status_code == 400 and error_of(r)["code"] == "validation_error"


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/v1/contacts"), ("POST", "/api/v1/contacts"),
    ("GET", "/api/v1/contacts/5f0c7a52-4c1e-4d7e-9a57-0d6f0b3c2a11"),
    ("DELETE", "/api/v1/contacts/0b9d3e4f-8a2c-4f61-b7d5-6e1a2c3d4f50"),
])
def test_crm_without_a_session_is_401(shared_orgs, method, path):
    r = anonymous(shared_orgs.app).open(path, method=method, json={"first_name": "x"})
    assert r.status_code == 401 and error_of(r)["code"] == "unauthorized"


def test_every_entity_has_all_five_routes(shared_orgs):
    rules = {(r.rule, m) for r in shared_orgs.app.url_map.iter_rules() for m in r.methods or ()}
    for name in ENTITIES:
        for method, path in (("GET", f"/api/v1/{name}"), ("POST", f"/api/v1/{name}"),
                             ("GET", f"/api/v1/{name}/<row_id>"), ("PATCH", f"/api/v1/{name}/<row_id>"),
                             ("DELETE", f"/api/v1/{name}/<row_id>")):
            assert (path, method) in rules, (method, path)
