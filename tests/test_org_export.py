"""`atlas org export` and `atlas org import`: an org's every row, streamed out and into a fresh Atlas.

The export is read as a stream (standard output into a file); the import goes
into a freshly migrated database, and every table found in the catalog is
compared row for row (the imported org's audit trail has one more entry: the
import itself).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from app.devdb import databases
from app.devdb.databases import DatabaseFactory
from tests.support.api import TwoOrgs, two_org_world
from tests.support.org_rows import org_snapshot
from tests.support.placement import ATLAS, ROOT, atlas, atlas_env


@pytest.fixture
def world(db_factory: DatabaseFactory, tmp_path: Path) -> Iterator[TwoOrgs]:
    with two_org_world(db_factory, semantic_root=str(tmp_path / "semantic")) as built:
        yield built


def fill(world: TwoOrgs) -> None:
    """Rows of many kinds in Acme: accounts and contacts, settings, a semantic entity, an API key."""
    owner = world.user("a", "owner")
    for i in range(3):
        account = owner.post("/api/v1/accounts", json={"name": f"Account {i}\twith a tab\nand a newline"})
        assert account.status_code == 201, account.get_json()
        contact = owner.post("/api/v1/contacts", json={"first_name": "Ada", "last_name": f"L{i}",
                                                       "account_id": account.get_json()["id"]})
        assert contact.status_code == 201, contact.get_json()
    assert owner.patch("/api/v1/settings", json={"queryRowLimit": 321}).status_code == 200
    yaml = "table: accounts\ndescription: A\ndimensions:\n  - name: id\n    sql: id\n    type: uuid\n"
    assert owner.put("/api/v1/admin/semantic/org/entities/accounts", json={"yamlContent": yaml}).status_code \
        in (200, 201)
    assert owner.post("/api/v1/admin/api-keys", json={"name": "ci", "role": "member"}).status_code == 201


def export_to(db: databases.TestDatabase, org: str, path: Path) -> subprocess.CompletedProcess[bytes]:
    with path.open("wb") as out:
        return subprocess.run([*ATLAS, "org", "export", org], env=atlas_env(db), stdout=out,
                              stderr=subprocess.PIPE, cwd=ROOT, timeout=120, check=False)


def test_an_exported_org_imported_into_a_fresh_atlas_has_every_row_of_every_table(
        world: TwoOrgs, fresh_db: databases.TestDatabase, tmp_path: Path) -> None:
    fill(world)
    archive = tmp_path / "acme.tar.gz"
    exported = export_to(world.db, "acme", archive)
    assert exported.returncode == 0, exported.stderr
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert names[-1] == "manifest.json" and "tables/accounts.copy" in names and "tables/audit_log.copy" in names
    assert b"$argon2" not in gzip.decompress(archive.read_bytes())  # never a password hash
    source = org_snapshot(world.db.admin_url, world.org_a, with_users=True)

    imported = atlas(fresh_db, "org", "import", str(archive))
    assert imported.returncode == 0, imported.stderr + imported.stdout
    target = org_snapshot(fresh_db.admin_url, world.org_a, with_users=True)
    assert set(target) == set(source)
    for table, rows in source.items():
        if table == "audit_log":
            assert rows < target[table] and len(target[table] - rows) == 1  # + the import's own entry
        else:
            assert target[table] == rows, table
    assert source["accounts"] and source["semantic_entities"] and source["api_keys"] and source["members"]
    assert not any(org_snapshot(fresh_db.admin_url, world.org_b)[t] for t in source if t != "users")
    with psycopg.connect(fresh_db.admin_url) as conn:
        audited = conn.execute("SELECT detail FROM platform_audit WHERE action = 'organization.import'"
                               " AND target_org_id = %s", (world.org_a,)).fetchone()
    assert audited is not None and audited[0]["rows"]["accounts"] == 3

    again = atlas(fresh_db, "org", "import", str(archive))
    assert again.returncode == 1 and "already exists in this Atlas" in again.stderr, again.stderr
    assert org_snapshot(fresh_db.admin_url, world.org_a, with_users=True) == target


def test_bad_export_and_import_input_is_answered_with_the_fix(world: TwoOrgs, fresh_db: databases.TestDatabase,
                                                              tmp_path: Path) -> None:
    unknown = export_to(world.db, "nosuch", tmp_path / "x")
    assert unknown.returncode == 1 and b"no organization has id or slug 'nosuch'" in unknown.stderr
    archive = tmp_path / "acme.tar.gz"
    assert export_to(world.db, "acme", archive).returncode == 0
    text = tmp_path / "notes.txt"
    text.write_text("not an archive")
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(archive) as tar:
        raw = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    raw["tables/members.copy"] = raw["tables/members.copy"].replace(b"member", b"owner")
    with tarfile.open(tampered, "w:gz") as tar:
        for name, body in raw.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, gzip.io.BytesIO(body))  # type: ignore[attr-defined]
    for path, said in ((tmp_path / "absent.tar.gz", "cannot read"), (text, "is not an Atlas org export"),
                       (truncated, "is not an Atlas org export"), (tampered, "is damaged")):
        done = atlas(fresh_db, "org", "import", str(path))
        assert done.returncode == 1 and said in done.stderr, (path, done.stderr)
    with psycopg.connect(fresh_db.admin_url, autocommit=True) as conn:  # someone else has Acme's owner's email here
        conn.execute("INSERT INTO users (email, name, password_hash) VALUES ('owner@acme.test', 'Other', '!')")
    clash = atlas(fresh_db, "org", "import", str(archive))
    assert clash.returncode == 1 and "refused: user owner@acme.test" in clash.stderr, clash.stderr
    assert not any(org_snapshot(fresh_db.admin_url, world.org_a).values())


def forged(archive: Path, out: Path, changes: dict[str, bytes]) -> Path:
    """The archive with some files replaced or added, and a manifest that vouches for them (as a forger would)."""
    with tarfile.open(archive) as tar:
        raw = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    manifest = json.loads(raw.pop("manifest.json"))
    for name, body in changes.items():
        raw[f"tables/{name}.copy"] = body
        entry = manifest["tables"].setdefault(name, {**manifest["tables"]["members"], "columns": []})
        if name not in manifest["order"]:
            manifest["order"].append(name)
        entry.update(sha256=hashlib.sha256(body).hexdigest(), rows=body.count(b"\n"))
    raw["manifest.json"] = json.dumps(manifest).encode()
    with tarfile.open(out, "w:gz") as tar:
        for name, body in raw.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return out


def test_a_forged_archive_cannot_write_into_another_org_or_a_table_no_org_owns(
        world: TwoOrgs, fresh_db: databases.TestDatabase, tmp_path: Path) -> None:
    acme, globex = tmp_path / "acme.tar.gz", tmp_path / "globex.tar.gz"
    assert export_to(world.db, "acme", acme).returncode == 0
    assert export_to(world.db, "globex", globex).returncode == 0
    assert atlas(fresh_db, "org", "import", str(globex)).returncode == 0  # the victim, already here
    victim = org_snapshot(fresh_db.admin_url, world.org_b, with_users=True)
    with tarfile.open(acme) as tar:
        members = tar.extractfile("tables/members.copy").read()  # type: ignore[union-attr]
    owner_row = next(line for line in members.splitlines() if b"\towner\t" in line)
    # Acme's owner made an owner of Globex: a members row with Globex's org id, in Acme's archive.
    into_globex = owner_row.replace(str(world.org_a).encode(), str(world.org_b).encode(), 1)
    into_globex = into_globex.replace(into_globex.split(b"\t")[1], str(uuid.uuid4()).encode(), 1)
    for changes, said in (({"members": members + into_globex + b"\n"}, "rows that are not org"),
                          ({"sessions": b"x\n"}, "which no org owns")):
        done = atlas(fresh_db, "org", "import", str(forged(acme, tmp_path / "forged.tar.gz", changes)))
        assert done.returncode == 1 and said in done.stderr, done.stderr
        assert org_snapshot(fresh_db.admin_url, world.org_b, with_users=True) == victim
        assert not any(org_snapshot(fresh_db.admin_url, world.org_a).values())
