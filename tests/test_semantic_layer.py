"""Per-org semantic layer: the database is the truth, the files a copy that repairs itself."""
from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid

import psycopg
import pytest

from app.db import Database
from app.errors import NotFoundError, ValidationError
from app.errors.database import MissingOrgError
from app.semantic import SemanticLayer
from app.semantic.sync import org_layer_dir
from tests.support import rows


def entity_yaml(table: str, *, description: str = "A table", padding: int = 0) -> str:
    """A valid entity; padding makes it big enough that a torn write would show."""
    body = f"table: {table}\ndescription: {description}\ndimensions:\n  - name: id\n    sql: id\n    type: uuid\n"
    if padding:
        body += "use_cases:\n" + "".join(f"  - use case {i:06d} {description} {'x' * 100}\n" for i in range(padding))
    return body


@pytest.fixture(scope="module")
def world(db_factory):
    db = db_factory.clone()
    database = Database(db.app_url, max_size=4).open()
    yield db, database
    database.close()
    db_factory.drop(db.name)


@pytest.fixture
def make_org(world):
    def make(name: str = "Org") -> uuid.UUID:
        with psycopg.connect(world[0].admin_url, autocommit=True) as conn:
            return rows.make_org(conn, name)
    return make


@pytest.fixture
def layer(world, tmp_path):
    return SemanticLayer(world[1], root=tmp_path / "semantic")


def stored(world, org: uuid.UUID) -> dict[str, tuple[str, int]]:
    """What the database holds for an org, read as the superuser (bypassing the door)."""
    with psycopg.connect(world[0].admin_url) as conn:
        found = conn.execute(
            "SELECT name, yaml_content, version FROM semantic_entities WHERE org_id = %s", (org,)
        ).fetchall()
    return {name: (content, version) for name, content, version in found}


def test_put_writes_the_database_then_the_file(world, layer, make_org):
    org = make_org()
    row = layer.put(org, "accounts", entity_yaml("accounts"))
    assert row["version"] == 1 and row["changed"] and row["synced"]
    assert stored(world, org) == {"accounts": (entity_yaml("accounts"), 1)}
    path = org_layer_dir(layer.root, org) / "entities" / "accounts.yml"
    assert path.read_text() == entity_yaml("accounts")


def test_upsert_bumps_the_version_only_when_the_content_changes(world, layer, make_org):
    org = make_org()
    layer.put(org, "accounts", entity_yaml("accounts"))
    before = layer.version(org)
    same = layer.put(org, "accounts", entity_yaml("accounts"))
    assert (same["version"], same["changed"]) == (1, False)
    assert layer.version(org) == before
    changed = layer.put(org, "accounts", entity_yaml("accounts", description="Companies"))
    assert (changed["version"], changed["changed"]) == (2, True)
    assert layer.version(org) != before
    assert stored(world, org)["accounts"][1] == 2


def test_semantic_version_changes_on_delete_and_recreate(layer, make_org):
    org = make_org()
    layer.put(org, "accounts", entity_yaml("accounts"))
    first = layer.version(org)
    layer.delete(org, "accounts")
    empty = layer.version(org)
    layer.put(org, "accounts", entity_yaml("accounts"))
    assert len({first, empty, layer.version(org)}) == 3


def test_delete_removes_row_and_file_and_unknown_is_not_found(world, layer, make_org):
    org = make_org()
    layer.put(org, "leads", entity_yaml("leads"))
    path = org_layer_dir(layer.root, org) / "entities" / "leads.yml"
    assert path.exists()
    layer.delete(org, "leads")
    assert not path.exists()
    assert stored(world, org) == {}
    with pytest.raises(NotFoundError):
        layer.delete(org, "leads")


def test_orgs_never_see_each_others_entities(world, layer, make_org):
    org_a, org_b = make_org("Alpha"), make_org("Bravo")
    layer.put(org_a, "secret_a", entity_yaml("accounts", description="alpha-only"))
    layer.put(org_b, "secret_b", entity_yaml("leads", description="bravo-only"))
    assert [r["name"] for r in layer.list(org_a)] == ["secret_a"]
    with pytest.raises(NotFoundError):
        layer.get(org_a, "secret_b")
    with pytest.raises(NotFoundError):
        layer.delete(org_a, "secret_b")
    assert stored(world, org_b)["secret_b"][1] == 1  # the victim's row survived
    assert layer.allowed_tables(org_a) == {"accounts"}
    assert layer.allowed_tables(org_b) == {"leads"}


def test_invalid_yaml_is_refused_before_the_database(world, layer, make_org):
    org = make_org()
    with pytest.raises(ValidationError) as caught:
        layer.put(org, "accounts", "table: accounts\ndimensions:\n  - name: id\n    sql: id\n    type: bogus\n")
    assert "dimensions[0].type" in caught.value.details["fields"]
    assert stored(world, org) == {}


@pytest.mark.parametrize("name", ["", "Accounts", "1abc", "a-b", "../x", "a/b", "a" * 64, "ab\x00c"])
def test_bad_entity_names_are_refused(layer, make_org, name):
    with pytest.raises(ValidationError):
        layer.put(make_org(), name, entity_yaml("accounts"))


@pytest.mark.parametrize("org_id", [None, "", "not-a-uuid", "../../etc", "00000000-0000-0000-0000-00000000000g"])
def test_org_ids_are_validated_before_any_path(layer, org_id):
    with pytest.raises(MissingOrgError):
        layer.ensure_synced(org_id)
    assert not (layer.root / ".orgs").exists()


def test_deleted_org_directory_is_rebuilt_on_next_access(layer, make_org):
    org = make_org()
    for table in ("accounts", "contacts", "leads"):
        layer.put(org, table, entity_yaml(table))
    shutil.rmtree(org_layer_dir(layer.root, org))
    listing = layer.explore("ls", "entities", org_id=org)
    assert [e["name"] for e in listing["entries"]] == ["accounts.yml", "contacts.yml", "leads.yml"]
    assert layer.explore("cat", "entities/leads.yml", org_id=org)["content"] == entity_yaml("leads")


def test_emptied_directory_and_stray_files_are_reconciled(layer, make_org):
    org = make_org()
    layer.put(org, "accounts", entity_yaml("accounts"))
    entities = org_layer_dir(layer.root, org) / "entities"
    (entities / "accounts.yml").unlink()
    (entities / "planted.yml").write_text(entity_yaml("notes"))
    layer.ensure_synced(org)
    assert sorted(os.listdir(entities)) == ["accounts.yml"]


def test_a_fresh_process_rebuilds_from_the_database(world, layer, make_org, tmp_path):
    """Another worker (another SemanticLayer on another disk) changed the org: we catch up."""
    org = make_org()
    other = SemanticLayer(world[1], root=tmp_path / "elsewhere")
    other.put(org, "projects", entity_yaml("projects"))
    assert layer.explore("cat", "entities/projects.yml", org_id=org)["content"] == entity_yaml("projects")
    other.delete(org, "projects")
    assert layer.explore("ls", "entities", org_id=org)["entries"] == []


def test_failed_sync_is_logged_keeps_the_database_and_is_retried(world, layer, make_org, caplog):
    org = make_org()
    org_dir = org_layer_dir(layer.root, org)
    org_dir.mkdir(parents=True)
    (org_dir / "entities").write_text("a file where the directory should be")
    with caplog.at_level(logging.ERROR, logger="atlas.semantic_sync"):
        row = layer.put(org, "sites", entity_yaml("sites"))
    assert row["synced"] is False
    assert stored(world, org) == {"sites": (entity_yaml("sites"), 1)}
    failures = [r for r in caplog.records if r.name == "atlas.semantic_sync" and r.levelno == logging.ERROR]
    assert failures and "retried on the next access" in failures[0].getMessage()
    (org_dir / "entities").unlink()  # the operator fixes the disk
    assert layer.explore("cat", "entities/sites.yml", org_id=org)["content"] == entity_yaml("sites")


def test_concurrent_reader_never_sees_a_partial_file(layer, make_org):
    org = make_org()
    versions = [entity_yaml("accounts", description=f"revision-{i}", padding=900) for i in range(2)]
    assert len(versions[0]) > 100_000
    layer.put(org, "accounts", versions[0])
    path = org_layer_dir(layer.root, org) / "entities" / "accounts.yml"
    done = threading.Event()
    seen: list[str] = []
    bad: list[int] = []

    def reader() -> None:
        while not done.is_set():
            content = path.read_text()
            seen.append(content[:40])
            if content not in versions:
                bad.append(len(content))

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    writes = 0
    deadline = time.monotonic() + 20
    while writes < 40 and time.monotonic() < deadline:
        layer.put(org, "accounts", versions[(writes + 1) % 2])
        writes += 1
    done.set()
    for t in threads:
        t.join()
    assert writes >= 20 and len(seen) > writes
    assert bad == []
    assert path.read_text() == versions[writes % 2]


def test_allowed_tables_follow_the_layer(layer, make_org):
    org = make_org()
    assert layer.allowed_tables(org) == frozenset()
    layer.put(org, "accounts", entity_yaml("accounts"))
    layer.put(org, "deals", entity_yaml("opportunities"))
    assert layer.allowed_tables(org) == {"accounts", "opportunities"}
    layer.delete(org, "deals")
    assert layer.allowed_tables(org) == {"accounts"}


def test_default_layer_without_an_org(world, tmp_path):
    root = tmp_path / "semantic"
    (root / "entities").mkdir(parents=True)
    (root / "entities" / "accounts.yml").write_text(entity_yaml("accounts"))
    (root / "entities" / "broken.yml").write_text("table: [")
    layer = SemanticLayer(world[1], root=root)
    assert layer.allowed_tables(None) == {"accounts"}
    before = layer.version(None)
    (root / "entities" / "leads.yml").write_text(entity_yaml("leads"))
    assert layer.allowed_tables(None) == {"accounts", "leads"}
    assert layer.version(None) != before
