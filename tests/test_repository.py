"""CRM repository through the org-scoped door: CRUD, keyset pages, and other orgs' ids."""
from __future__ import annotations

import uuid

import psycopg
import pytest

from app.crm import repository
from app.crm.writes import validate_write
from app.db import Database
from app.entities import ENTITIES
from app.errors import NotFoundError, ValidationError
from app.paging import Cursors
from tests.support import catalog, rows

ENTITY_NAMES = sorted(ENTITIES)
CURSORS = Cursors(b"a test key of thirty-two bytes!!")
SAMPLE = {
    "accounts": {"name": "Initech", "employee_count": 40, "annual_revenue": "1250000.50"},
    "contacts": {"first_name": "Peter", "last_name": "Gibbons", "email": "Peter@Initech.example"},
    "leads": {"first_name": "Samir", "company": "Initech", "score": 55, "status": "contacted"},
    "opportunities": {"name": "TPS renewal", "stage": "proposal", "amount": 9800, "close_date": "2027-01-31"},
    "activities": {"subject": "Call about TPS reports", "kind": "call", "due_at": "2026-12-01T10:00:00Z"},
    "notes": {"body": "Remember the cover sheet."},
    "projects": {"name": "Y2K remediation", "status": "active", "start_date": "2026-01-01", "due_date": "2026-06-30"},
    "sites": {"name": "HQ", "city": "Austin", "country": "US"},
    "knowledge-files": {"title": "TPS guide", "filename": "tps.md", "body": "# TPS"},
}
CHANGE = {
    "accounts": {"industry": "Software"}, "contacts": {"title": "Engineer"}, "leads": {"score": 90},
    "opportunities": {"stage": "negotiation"}, "activities": {"kind": "meeting"}, "notes": {"body": "Updated"},
    "projects": {"status": "on_hold"}, "sites": {"city": "Dallas"}, "knowledge-files": {"title": "TPS guide v2"},
}


@pytest.fixture(scope="module")
def world(db_factory):
    db = db_factory.clone()
    with psycopg.connect(db.admin_url, autocommit=True) as conn:
        org_a, org_b = rows.make_org(conn, "Alpha"), rows.make_org(conn, "Bravo")
    database = Database(db.app_url, max_size=2).open()
    yield db, database, org_a, org_b
    database.close()
    db_factory.drop(db.name)


def test_every_crm_table_is_declared_and_every_field_is_a_column(world):
    db = world[0]
    crm = {"accounts", "contacts", "leads", "opportunities", "activities", "notes", "projects",
           "sites", "knowledge_files"}
    assert {e.table for e in ENTITIES.values()} == crm
    with psycopg.connect(db.admin_url) as conn:
        for entity in ENTITIES.values():
            real = {c.name for c in catalog.columns(conn, entity.table)}
            assert set(entity.columns) <= real, entity.name


@pytest.mark.parametrize("name", ENTITY_NAMES)
def test_crud_round_trip_within_one_org(world, name):
    _, database, org_a, _ = world
    entity = ENTITIES[name]
    with database.transaction(org_a) as scope:
        created = repository.create(scope, entity, validate_write(entity, SAMPLE[name], partial=False))
    assert created["org_id"] == org_a
    with database.transaction(org_a) as scope:
        assert repository.get(scope, entity, created["id"])["id"] == created["id"]
        changed = repository.update(scope, entity, created["id"], validate_write(entity, CHANGE[name], partial=True))
    for key, value in CHANGE[name].items():
        assert str(changed[key]) == str(value)
    with database.transaction(org_a) as scope:
        repository.delete(scope, entity, created["id"])
        with pytest.raises(NotFoundError):
            repository.get(scope, entity, created["id"])


@pytest.mark.parametrize("name", ENTITY_NAMES)
def test_another_orgs_id_is_not_found_for_every_operation(world, name):
    db, database, org_a, org_b = world
    entity = ENTITIES[name]
    with psycopg.connect(db.admin_url, autocommit=True) as conn:
        theirs = rows.insert_row(conn, entity.table, org_b)
    with database.transaction(org_a) as scope:
        with pytest.raises(NotFoundError):
            repository.get(scope, entity, theirs["id"])
        with pytest.raises(NotFoundError):
            repository.update(scope, entity, theirs["id"], validate_write(entity, CHANGE[name], partial=True))
        with pytest.raises(NotFoundError):
            repository.delete(scope, entity, theirs["id"])
    with psycopg.connect(db.admin_url) as conn:
        after = conn.execute(f"SELECT updated_at FROM {entity.table} WHERE id = %s", (theirs["id"],)).fetchone()
    assert after == (theirs["updated_at"],)


def test_a_reference_to_another_orgs_row_is_a_field_error(world):
    db, database, org_a, org_b = world
    with psycopg.connect(db.admin_url, autocommit=True) as conn:
        their_account = rows.insert_row(conn, "accounts", org_b)
    entity = ENTITIES["contacts"]
    with database.transaction(org_a) as scope, pytest.raises(ValidationError) as caught:
        repository.create(scope, entity, {"first_name": "X", "account_id": their_account["id"]})
    assert caught.value.details["fields"] == {"account_id": "does not exist"}


def test_keyset_pages_cover_every_row_once_in_order(world):
    _, database, _, _ = world
    org = _fresh_org(world)
    entity = ENTITIES["contacts"]
    with database.transaction(org) as scope:
        for i in range(7):
            repository.create(scope, entity, {"first_name": f"P{i}", "last_name": f"L{i % 3}"})
    seen, cursor = [], None
    while True:
        with database.transaction(org) as scope:
            page = repository.list_rows(scope, entity, cursors=CURSORS, sort="last_name", limit=3,
                                        cursor=cursor)
        seen += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 7 and len({r["id"] for r in seen}) == 7
    assert [(r["last_name"], r["id"]) for r in seen] == sorted((r["last_name"], r["id"]) for r in seen)
    with database.transaction(org) as scope:
        filtered = repository.list_rows(scope, entity, cursors=CURSORS, filters={"last_name": "L1"})
    assert {r["last_name"] for r in filtered.items} == {"L1"} and len(filtered.items) == 2


@pytest.mark.parametrize("kwargs, field", [
    ({"sort": "secret"}, "sort"), ({"limit": 0}, "limit"), ({"limit": 201}, "limit"),
    ({"cursor": "!!not-a-cursor"}, "cursor"), ({"filters": {"phone": "1"}}, "phone"),
])
def test_bad_list_parameters_are_field_errors(world, kwargs, field):
    _, database, org_a, _ = world
    with database.transaction(org_a) as scope, pytest.raises(ValidationError) as caught:
        repository.list_rows(scope, ENTITIES["contacts"], cursors=CURSORS, **kwargs)
    assert field in caught.value.details["fields"]


@pytest.mark.parametrize("body, field, message", [
    ({}, "first_name", "is required"),
    ({"first_name": "A", "email": "nope"}, "email", "must be an email address"),
    ({"first_name": "A", "lifecycle_stage": "boss"}, "lifecycle_stage", "must be one of"),
    ({"first_name": "A", "org_id": "7d2f4c1a-9b3e-4a5d-8c6f-1e2d3c4b5a69"}, "org_id", "is not a field of contacts"),
    ({"first_name": "A", "account_id": "123"}, "account_id", "must be an id"),
    ({"first_name": "x" * 101}, "first_name", "at most 100"),
])
def test_validation_names_the_field(body, field, message):
    with pytest.raises(ValidationError) as caught:
        validate_write(ENTITIES["contacts"], body, partial=False)
    assert message in caught.value.details["fields"][field]


def _fresh_org(world) -> uuid.UUID:
    with psycopg.connect(world[0].admin_url, autocommit=True) as conn:
        return rows.make_org(conn, "Charlie")


@pytest.mark.parametrize("entity, body, field, message", [
    ("opportunities", {"name": "A", "currency": "usd"}, "currency", "three-letter"),
    ("sites", {"name": "A", "country": "USA"}, "country", "at most 2"),
    ("sites", {"name": "A", "country": "us"}, "country", "two-letter"),
    ("knowledge-files", {"title": "A", "filename": "../etc/passwd"}, "filename", "without /"),
    ("projects", {"name": "A", "start_date": "2026-05-01", "due_date": "2026-04-01"}, "due_date", "before"),
    ("opportunities", {"name": "A", "amount": "1e20"}, "amount", "at most"),
])
def test_column_checks_are_field_errors_before_the_database(entity, body, field, message):
    with pytest.raises(ValidationError) as caught:
        validate_write(ENTITIES[entity], body, partial=False)
    assert message in caught.value.details["fields"][field]
