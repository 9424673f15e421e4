"""Attacks from org A on org B through every CRM endpoint: each must fail, and B must be untouched.

Generated from app.entities.ENTITIES and the catalog's foreign keys. Every
test that aims at B snapshots all of B's tenant rows (as the superuser, RLS
not involved) before the attack and compares afterwards. The last test runs the attacks again with
the attacker, then the victim, in a database of its own.
"""
from __future__ import annotations

import time
import uuid

import psycopg
import pytest

from app.entities import ENTITIES
from tests.support import rows
from tests.support.api import two_org_world
from tests.support.api_module import audit_rows, call, org_snapshot, ref_tables, refs_in, row_of, sample_body
from tests.support.errors import error_of
from tests.support.placement import CACHE_S, atlas

ENTITY_NAMES = sorted(ENTITIES)
ITEM_METHODS = ("GET", "PATCH", "DELETE")
ATTACKERS = ("member", "owner")
REF_FIELDS = [(n, f.name) for n, e in sorted(ENTITIES.items()) for f in e.fields if f.writable and f.kind == "ref"]


@pytest.fixture(scope="module")
def theirs(shared_orgs) -> dict[str, uuid.UUID]:
    """One row of org B per entity, written as the superuser."""
    with psycopg.connect(shared_orgs.db.admin_url, autocommit=True) as conn:
        return {name: rows.insert_row(conn, e.table, shared_orgs.org_b)["id"] for name, e in ENTITIES.items()}


@pytest.fixture(scope="module")
def b_targets(shared_orgs) -> dict[str, uuid.UUID]:
    """For every table a CRM reference points at, one row of org B to aim at (made before any snapshot)."""
    with psycopg.connect(shared_orgs.db.admin_url, autocommit=True) as conn:
        tables = {t for e in ENTITIES.values() for t in ref_tables(conn, e).values()}
        return {t: row_of(conn, shared_orgs, "b", t) for t in sorted(tables)}


@pytest.fixture
def b_unchanged(shared_orgs, theirs, b_targets):
    """Fails the test if anything of org B changed while it ran."""
    before = org_snapshot(shared_orgs.db.admin_url, shared_orgs.org_b)
    assert any(before.values())
    yield
    assert org_snapshot(shared_orgs.db.admin_url, shared_orgs.org_b) == before


def _without(body: dict, *ids: object) -> str:
    text = str(body)
    for value in ids:
        text = text.replace(str(value), "<id>")
    return text


@pytest.mark.parametrize("role", ATTACKERS)
@pytest.mark.parametrize("method", ITEM_METHODS)
@pytest.mark.parametrize("name", ENTITY_NAMES)
def test_b_row_id_is_404_exactly_like_a_missing_one(shared_orgs, theirs, b_unchanged, name, method, role):
    attacker = shared_orgs.user("a", role)
    body = sample_body(ENTITIES[name], variant=2) if method == "PATCH" else None
    target, missing = theirs[name], uuid.uuid4()
    hit = call(attacker, method, f"/api/v1/{name}/{target}", json=body)
    miss = call(attacker, method, f"/api/v1/{name}/{missing}", json=body)
    assert (hit.status_code, miss.status_code) == (404, 404)
    assert error_of(hit)["code"] == "not_found"
    assert _without(hit.get_json(), target) == _without(miss.get_json(), missing)
    assert hit.headers.get("Content-Type") == miss.headers.get("Content-Type")


@pytest.mark.parametrize("name", ENTITY_NAMES)
def test_listing_in_a_never_shows_b_rows(shared_orgs, theirs, b_unchanged, name):
    attacker, seen, cursor = shared_orgs.user("a", "member"), [], None
    while True:
        r = attacker.get(f"/api/v1/{name}", query_string={"limit": 200, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200
        seen += r.get_json()["data"]
        cursor = r.get_json()["nextCursor"]
        if cursor is None:
            break
    assert str(theirs[name]) not in {row["id"] for row in seen}
    assert {row["org_id"] for row in seen} <= {str(shared_orgs.org_a)}


@pytest.mark.parametrize("name, field", REF_FIELDS, ids=[f"{n}.{f}" for n, f in REF_FIELDS])
def test_a_reference_to_a_b_row_is_refused_on_create_and_update(shared_orgs, b_targets, b_unchanged, name, field):
    entity, attacker = ENTITIES[name], shared_orgs.user("a", "member")
    with psycopg.connect(shared_orgs.db.admin_url, autocommit=True) as conn:
        ours = refs_in(conn, shared_orgs, "a", entity)
        foreign = b_targets[ref_tables(conn, entity)[field]]
    before = org_snapshot(shared_orgs.db.admin_url, shared_orgs.org_a)[entity.table]

    r = attacker.post(f"/api/v1/{name}", json=sample_body(entity, variant=1, refs={**ours, field: foreign}))
    assert r.status_code == 400, r.get_json()
    assert error_of(r)["fields"] == {field: "does not exist"}
    assert org_snapshot(shared_orgs.db.admin_url, shared_orgs.org_a)[entity.table] == before

    own = attacker.post(f"/api/v1/{name}", json=sample_body(entity, variant=1, refs=ours)).get_json()
    r = attacker.patch(f"/api/v1/{name}/{own['id']}", json={field: str(foreign)})
    assert r.status_code == 400 and error_of(r)["fields"] == {field: "does not exist"}
    assert attacker.get(f"/api/v1/{name}/{own['id']}").get_json() == own


@pytest.mark.parametrize("name", ENTITY_NAMES)
def test_every_writable_reference_is_held_by_an_org_scoped_foreign_key(shared_orgs, name):
    """A ref field without an (org_id, field) foreign key could point into another org unchecked."""
    entity = ENTITIES[name]
    with psycopg.connect(shared_orgs.db.admin_url) as conn:
        held = set(ref_tables(conn, entity))
    assert {f.name for f in entity.fields if f.kind == "ref" and f.writable} <= held


@pytest.mark.parametrize("key", ["org_id", "organizationId"])
@pytest.mark.parametrize("name", ENTITY_NAMES)
def test_a_body_naming_b_is_refused_403_and_audited(shared_orgs, theirs, b_unchanged, name, key):
    attacker, entity = shared_orgs.user("a", "member"), ENTITIES[name]
    request_id = f"attack-{name}-{key}"
    before = org_snapshot(shared_orgs.db.admin_url, shared_orgs.org_a)[entity.table]
    body = {**sample_body(entity, variant=1), key: str(shared_orgs.org_b)}
    r = attacker.post(f"/api/v1/{name}", json=body, headers={"X-Request-Id": request_id})
    assert r.status_code == 403
    assert error_of(r)["code"] == "cross_org_refused"
    assert org_snapshot(shared_orgs.db.admin_url, shared_orgs.org_a)[entity.table] == before
    [entry] = audit_rows(shared_orgs.db.admin_url, shared_orgs.org_a, request_id=request_id)
    assert (entry["action"], entry["outcome"], entry["actor_user_id"]) == (
        "cross_org.refused", "refused", attacker.user_id)
    assert entry["detail"]["named_org"] == str(shared_orgs.org_b)


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_naming_b_on_an_a_row_or_in_the_query_is_refused_and_the_row_kept(shared_orgs, b_unchanged, method):
    attacker = shared_orgs.user("a", "member")
    own = attacker.post("/api/v1/notes", json={"body": "mine"}).get_json()
    request_id = f"attack-query-{method}"
    r = call(attacker, method, f"/api/v1/notes/{own['id']}?orgId={shared_orgs.org_b}",
             json={"body": "theirs", "data": {"organization_id": str(shared_orgs.org_b)}} if method == "PATCH" else None,
             headers={"X-Request-Id": request_id})
    assert r.status_code == 403 and error_of(r)["code"] == "cross_org_refused"
    assert attacker.get(f"/api/v1/notes/{own['id']}").get_json() == own
    assert len(audit_rows(shared_orgs.db.admin_url, shared_orgs.org_a, request_id=request_id)) == 1


def test_b_rows_are_still_there_and_readable_by_b(shared_orgs, theirs):
    """The attacks above ran against rows that exist: B itself sees every one of them."""
    owner_b = shared_orgs.user("b", "member")
    for name, row_id in theirs.items():
        r = owner_b.get(f"/api/v1/{name}/{row_id}")
        assert r.status_code == 200 and r.get_json()["org_id"] == str(shared_orgs.org_b), name


# ----- the same attacks when either org lives in a database of its own (docs/placement.md) -----

@pytest.fixture(scope="module", params=["a", "b"], ids=["attacker-dedicated", "victim-dedicated"])
def placed_orgs(request, db_factory):
    """Acme and Globex with one row of Globex per entity; then one of the two moved to a database of its own."""
    dedicated = db_factory.empty()
    try:
        with two_org_world(db_factory, placement_cache_s=CACHE_S) as world:
            with psycopg.connect(world.db.admin_url, autocommit=True) as conn:
                theirs = {name: rows.insert_row(conn, e.table, world.org_b)["id"] for name, e in ENTITIES.items()}
            moved = atlas(world.db, "org", "move", {"a": "acme", "b": "globex"}[request.param],
                          "--to", dedicated.admin_url)
            assert moved.returncode == 0, moved.stdout + moved.stderr
            homes = {org: dedicated.admin_url if org == request.param else world.db.admin_url for org in "ab"}
            time.sleep(CACHE_S * 2 + 0.1)
            yield world, theirs, homes
    finally:
        db_factory.drop(dedicated.name)


@pytest.mark.parametrize("name", ENTITY_NAMES)
def test_b_rows_stay_out_of_reach_when_either_org_has_a_database_of_its_own(placed_orgs, name):
    world, theirs, homes = placed_orgs
    attacker, entity, target = world.user("a", "owner"), ENTITIES[name], theirs[name]
    before = org_snapshot(homes["b"], world.org_b)
    for method in ITEM_METHODS:
        body = sample_body(entity, variant=2) if method == "PATCH" else None
        hit, miss = (call(attacker, method, f"/api/v1/{name}/{row}", json=body) for row in (target, uuid.uuid4()))
        assert (hit.status_code, miss.status_code) == (404, 404), (method, hit.get_json())
    listed = attacker.get(f"/api/v1/{name}", query_string={"limit": 200}).get_json()["data"]
    assert str(target) not in {row["id"] for row in listed}
    request_id = f"placed-attack-{name}"
    r = attacker.post(f"/api/v1/{name}", json={**sample_body(entity, variant=1), "org_id": str(world.org_b)},
                      headers={"X-Request-Id": request_id})
    assert r.status_code == 403 and error_of(r)["code"] == "cross_org_refused"
    assert len(audit_rows(homes["a"], world.org_a, request_id=request_id)) == 1  # recorded where A lives
    assert org_snapshot(homes["b"], world.org_b) == before
    assert not org_snapshot(homes["a"], world.org_b)[entity.table]  # nothing of B where A lives
    assert world.user("b", "member").get(f"/api/v1/{name}/{target}").status_code == 200
