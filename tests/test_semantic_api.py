"""Admin entity API and explore endpoint: the matrix, audit on every change, one org only."""
from __future__ import annotations

import uuid

import psycopg
import pytest

from app.api.semantic_routes import get_layer
from app.errors.query import SqlRejectedError
from app.gateway import prepare
from tests.support.api import build_two_orgs, close_app, make_app
from tests.support.errors import error_of

BASE = "/api/v1/admin/semantic/org/entities"


def entity(table: str, description: str = "A table") -> str:
    return f"table: {table}\ndescription: {description}\ndimensions:\n  - name: id\n    sql: id\n    type: uuid\n"


@pytest.fixture(scope="module")
def world(db_factory, tmp_path_factory):
    db = db_factory.clone()
    root = tmp_path_factory.mktemp("semantic-api") / "semantic"
    (root / "entities").mkdir(parents=True)
    (root / "entities" / "accounts.yml").write_text(entity("accounts", "the default layer"))
    app = make_app(db, semantic_root=str(root))
    try:
        yield build_two_orgs(app, db), root
    finally:
        close_app(app)
        db_factory.drop(db.name)


def audit_rows(world, org: uuid.UUID, name: str) -> list[tuple]:
    with psycopg.connect(world[0].db.admin_url) as conn:
        return conn.execute(
            "SELECT action, actor_user_id, detail->>'version' FROM audit_log WHERE org_id = %s "
            "AND entity = 'semantic_entity' AND entity_id = %s ORDER BY occurred_at, id", (org, name),
        ).fetchall()


@pytest.mark.parametrize(("role", "read", "write"), [("member", 200, 403), ("admin", 200, 201),
                                                      ("owner", 200, 201)])
def test_semantic_read_for_members_update_for_admins_and_owners(world, role, read, write):
    orgs, _ = world
    user = orgs.user("a", role)
    name = f"matrix_{role}"
    assert user.get(BASE).status_code == read
    put = user.put(f"{BASE}/{name}", json={"yamlContent": entity("accounts")})
    assert put.status_code == write, put.get_json()
    if write == 403:
        assert error_of(put)["code"] == "forbidden"
        assert orgs.user("a", "owner").get(f"{BASE}/{name}").status_code == 404
        orgs.user("a", "owner").put(f"{BASE}/{name}", json={"yamlContent": entity("accounts")})
    assert user.delete(f"{BASE}/{name}").status_code == (204 if write == 201 else 403)


def test_put_get_list_delete_round_trip_with_audit(world):
    orgs, root = world
    admin = orgs.user("a", "admin")
    created = admin.put(f"{BASE}/deals", json={"yamlContent": entity("opportunities")})
    assert created.status_code == 201
    body = created.get_json()
    assert (body["name"], body["version"], body["changed"], body["synced"]) == ("deals", 1, True, True)
    assert (root / ".orgs" / str(orgs.org_a) / "entities" / "deals.yml").read_text() == entity("opportunities")
    same = admin.put(f"{BASE}/deals", json={"yamlContent": entity("opportunities")})
    assert (same.status_code, same.get_json()["changed"]) == (200, False)
    updated = admin.put(f"{BASE}/deals", json={"yamlContent": entity("opportunities", "Deals")})
    assert (updated.status_code, updated.get_json()["version"]) == (200, 2)
    assert orgs.user("a", "member").get(f"{BASE}/deals").get_json()["yamlContent"] == entity("opportunities", "Deals")
    assert "deals" in [e["name"] for e in admin.get(BASE).get_json()["data"]]
    assert admin.delete(f"{BASE}/deals").status_code == 204
    assert not (root / ".orgs" / str(orgs.org_a) / "entities" / "deals.yml").exists()
    assert admin.delete(f"{BASE}/deals").status_code == 404
    assert audit_rows(world, orgs.org_a, "deals") == [
        ("semantic_entity.upsert", admin.user_id, "1"),
        ("semantic_entity.upsert", admin.user_id, "2"),
        ("semantic_entity.delete", admin.user_id, "2"),
    ]


def test_invalid_yaml_is_a_400_naming_the_field_and_line(world):
    owner = world[0].user("a", "owner")
    bad = owner.put(f"{BASE}/broken", json={"yamlContent": "table: accounts\ndimensions:\n  - name: id\n"})
    assert bad.status_code == 400
    error = error_of(bad)
    assert error["code"] == "validation_error"
    assert "dimensions[0].sql" in error["fields"] and "(line 3)" in error["fields"]["dimensions[0].sql"]
    for body in ({}, {"yamlContent": 42}, {"yaml_content": entity("accounts")}):
        assert owner.put(f"{BASE}/broken", json=body).status_code == 400
    assert owner.put(f"{BASE}/Bad-Name", json={"yamlContent": entity("accounts")}).status_code == 400
    assert owner.get(f"{BASE}/broken").status_code == 404
    assert audit_rows(world, world[0].org_a, "broken") == []


def test_another_orgs_entities_are_invisible_and_untouchable(world):
    orgs, _ = world
    orgs.user("b", "owner").put(f"{BASE}/globex_only", json={"yamlContent": entity("leads", "globex secret")})
    a_owner = orgs.user("a", "owner")
    assert "globex_only" not in [e["name"] for e in a_owner.get(BASE).get_json()["data"]]
    assert a_owner.get(f"{BASE}/globex_only").status_code == 404
    assert a_owner.delete(f"{BASE}/globex_only").status_code == 404
    hijack = a_owner.put(f"{BASE}/globex_only", json={"yamlContent": entity("accounts"),
                                                      "orgId": str(orgs.org_b)})
    assert hijack.status_code == 403 and error_of(hijack)["code"] == "cross_org_refused"
    still = orgs.user("b", "member").get(f"{BASE}/globex_only").get_json()
    assert (still["version"], still["yamlContent"]) == (1, entity("leads", "globex secret"))


def test_explore_reads_the_session_orgs_layer_only(world):
    orgs, _ = world
    orgs.user("a", "admin").put(f"{BASE}/acme_accounts", json={"yamlContent": entity("accounts", "acme view")})
    orgs.user("b", "admin").put(f"{BASE}/globex_leads", json={"yamlContent": entity("leads", "globex view")})
    member = orgs.user("a", "member")
    listing = member.post("/api/v1/semantic/explore", json={"command": "ls", "path": "entities"}).get_json()
    names = [e["name"] for e in listing["entries"]]
    assert "acme_accounts.yml" in names and "globex_leads.yml" not in names
    grep = member.post("/api/v1/semantic/explore", json={"command": "grep", "pattern": "view"}).get_json()
    assert {m["path"] for m in grep["matches"]} == {"entities/acme_accounts.yml"}
    cat = member.post("/api/v1/semantic/explore", json={"command": "cat", "path": "entities/globex_leads.yml"})
    assert cat.status_code == 404
    for path in (f"../{orgs.org_b}/entities/globex_leads.yml", "/etc/passwd", f".orgs/{orgs.org_b}"):
        refused = member.post("/api/v1/semantic/explore", json={"command": "cat", "path": path})
        assert refused.status_code == 400 and "globex" not in refused.get_data(as_text=True)
    forged = member.post("/api/v1/semantic/explore", json={"command": "ls", "orgId": str(orgs.org_b)})
    assert forged.status_code == 403


def test_explore_without_an_active_org_reads_the_default_layer(world):
    orgs, _ = world
    user = orgs.user("a", "member")
    user.set_active(None)
    try:
        cat = user.post("/api/v1/semantic/explore", json={"command": "cat", "path": "entities/accounts.yml"})
        assert cat.status_code == 200 and "the default layer" in cat.get_json()["content"]
    finally:
        user.set_active(orgs.org_a)


def test_explore_needs_a_session(world):
    anonymous = world[0].app.test_client()
    assert anonymous.post("/api/v1/semantic/explore", json={"command": "ls"}).status_code == 401


def test_gateway_refuses_tables_the_orgs_layer_does_not_declare(world):
    orgs, _ = world
    layer = get_layer(orgs.app)
    orgs.user("a", "owner").put(f"{BASE}/only_sites", json={"yamlContent": entity("sites")})
    allowed = layer.allowed_tables(orgs.org_a)
    assert "sites" in allowed and "projects" not in allowed
    prepare("SELECT name FROM sites", org_id=orgs.org_a, allowed_tables=allowed, row_limit=10)
    with pytest.raises(SqlRejectedError, match="projects"):
        prepare("SELECT name FROM projects", org_id=orgs.org_a, allowed_tables=allowed, row_limit=10)
    assert "sites" not in layer.allowed_tables(orgs.org_b)
