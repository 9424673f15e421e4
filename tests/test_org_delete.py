"""`atlas org delete` and `atlas org purge`: out of reach at once, reversible in the grace period, then erased.

After the purge a scan finds nothing of the org: no row in any table of any
schema (every uuid, text and jsonb column is searched for its id, the platform's
own audit aside), no Redis key, no job, no connection secret, no semantic file,
no dedicated database; the other org is row for row as it was.
"""
from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from cryptography.fernet import Fernet
from psycopg import sql

from app.devdb import databases
from app.devdb.databases import DatabaseFactory
from app.http.context import services
from tests.support.api import TwoOrgs, two_org_world
from tests.support.datasource import external_datasource
from tests.support.org_rows import org_snapshot
from tests.support.placement import CACHE_S, atlas

REDIS_URL = "redis://127.0.0.1:6379/0"
KEY = Fernet.generate_key().decode()
ENTITY = "table: accounts\ndescription: A\ndimensions:\n  - name: name\n    sql: name\n    type: string\n"


@pytest.fixture(scope="module")
def ds(db_factory: DatabaseFactory) -> Iterator[object]:
    with external_datasource(db_factory) as datasource:
        yield datasource


@pytest.fixture
def world(db_factory: DatabaseFactory, tmp_path: Path, ds: object) -> Iterator[TwoOrgs]:
    prefix = f"atlas:test-delete-{secrets.token_hex(4)}"
    with two_org_world(db_factory, placement_cache_s=CACHE_S, semantic_root=str(tmp_path / "semantic"),
                       cache_backend="redis", cache_redis_url=REDIS_URL, cache_key_prefix=prefix,
                       connection_keys=KEY, connection_allowed_hosts=ds.allowed()) as built:  # type: ignore[attr-defined]
        built.app.config["TEST_PREFIX"] = prefix
        yield built
    client = redis.Redis.from_url(REDIS_URL)
    leftovers = list(client.scan_iter(match=f"{prefix}:*"))
    if leftovers:
        client.delete(*leftovers)
    client.close()


def fill(world: TwoOrgs, org: str, ds: object) -> str:
    """Rows, a semantic entity (files on disk), a cached query (Redis), a job, a connection secret, an API key."""
    owner = world.user(org, "owner")
    assert owner.post("/api/v1/accounts", json={"name": f"{org} account"}).status_code == 201
    assert owner.put("/api/v1/admin/semantic/org/entities/accounts", json={"yamlContent": ENTITY}).status_code \
        in (200, 201)
    assert owner.post("/api/v1/query", json={"sql": "SELECT name FROM accounts"}).status_code == 200
    assert owner.post("/api/v1/jobs", json={"kind": "reprofile"}).status_code == 201
    assert owner.post("/api/v1/admin/connections", json={"id": "warehouse", "url": ds.url()}).status_code \
        == 201  # type: ignore[attr-defined]
    key = owner.post("/api/v1/admin/api-keys", json={"name": "ci", "role": "member"})
    assert key.status_code == 201
    return str(key.get_json()["key"])


def env(world: TwoOrgs, **extra: str) -> dict[str, str]:
    return {"ATLAS_CACHE_BACKEND": "redis", "ATLAS_CACHE_REDIS_URL": REDIS_URL,
            "ATLAS_CACHE_KEY_PREFIX": str(world.app.config["TEST_PREFIX"]),
            "ATLAS_SEMANTIC_ROOT": str(services(world.app).settings.semantic.root), **extra}


def traces(admin_url: str, org: uuid.UUID) -> list[str]:
    """Every column of every table (any schema) with the org's id in it, but platform_audit's."""
    found = []
    with psycopg.connect(admin_url) as conn:
        columns = conn.execute(
            "SELECT n.nspname::text, c.relname::text, a.attname::text FROM pg_attribute a"
            " JOIN pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p')"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE a.atttypid IN ('uuid'::regtype, 'text'::regtype, 'jsonb'::regtype) AND a.attnum > 0"
            " AND NOT a.attisdropped AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
            " AND c.relname <> 'platform_audit'").fetchall()
        for schema, table, column in columns:
            hit = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE {}::text LIKE %s").format(
                sql.Identifier(schema, table), sql.Identifier(column)), (f"%{org}%",)).fetchone()
            if hit and hit[0]:
                found.append(f"{schema}.{table}.{column}")
    return found


def redis_keys(org: uuid.UUID) -> list[bytes]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return list(client.scan_iter(match=f"*{org}*"))
    finally:
        client.close()


def test_a_deleted_org_is_out_of_reach_until_canceled_and_leaves_nothing_once_purged(world: TwoOrgs, ds: object) -> None:
    shared, org = world.db, world.org_a
    key = fill(world, "a", ds)
    fill(world, "b", ds)
    owner, admin = world.user("a", "owner"), world.user("a", "admin")
    assert redis_keys(org) and traces(shared.admin_url, org)
    semantic = Path(services(world.app).settings.semantic.root) / ".orgs" / str(org)
    assert semantic.exists()
    globex = org_snapshot(shared.admin_url, world.org_b)

    marked = atlas(shared, "org", "delete", "acme", env=env(world))
    assert marked.returncode == 0 and "marked for deletion" in marked.stdout, marked.stderr
    assert owner.get("/api/v1/accounts").status_code == 401  # its sessions are revoked
    assert admin.client.get("/api/v1/accounts", headers={"Authorization": f"Bearer {key}"}).status_code in (401, 403)
    early = atlas(shared, "org", "purge", "acme", env=env(world))
    assert early.returncode == 1 and "may be purged from" in early.stderr, early.stderr
    cron = atlas(shared, "org", "purge", env=env(world))
    assert cron.returncode == 0 and "0 org(s) purged; 1 still in their grace period" in cron.stdout

    canceled = atlas(shared, "org", "delete", "acme", "--cancel", env=env(world))
    assert canceled.returncode == 0 and "3 members are back" in canceled.stdout, canceled.stderr
    assert admin.client.get("/api/v1/accounts", headers={"Authorization": f"Bearer {key}"}).status_code == 200

    assert atlas(shared, "org", "delete", "acme", env=env(world, ATLAS_ORG_DELETE_GRACE_S="0")).returncode == 0
    purged = atlas(shared, "org", "purge", env=env(world))
    assert purged.returncode == 0 and "1 org(s) purged" in purged.stdout, purged.stderr + purged.stdout
    assert traces(shared.admin_url, org) == []
    assert redis_keys(org) == [] and not semantic.exists()
    assert org_snapshot(shared.admin_url, world.org_b) == globex
    with psycopg.connect(shared.admin_url) as conn:
        erased = conn.execute("SELECT detail FROM platform_audit WHERE action = 'organization.purge'"
                              " AND target_org_id = %s", (org,)).fetchone()
    assert erased is not None and erased[0]["rows"]["accounts"] == 1 and erased[0]["rows"]["jobs"] == 1
    assert erased[0]["rows"]["org_connections"] == 1 and erased[0]["redis_keys"] > 0
    gone = atlas(shared, "org", "delete", str(org), env=env(world))
    assert gone.returncode == 1 and "no organization has id or slug" in gone.stderr


def test_purging_an_org_in_a_dedicated_database_drops_that_database(world: TwoOrgs, db_factory: DatabaseFactory,
                                                                     ds: object) -> None:
    shared, org = world.db, world.org_a
    fill(world, "a", ds)
    dedicated: databases.TestDatabase = db_factory.empty()
    try:
        moved = atlas(shared, "org", "move", "acme", "--to", dedicated.admin_url)
        assert moved.returncode == 0, moved.stderr + moved.stdout
        globex = org_snapshot(shared.admin_url, world.org_b)
        assert atlas(shared, "org", "delete", "acme", env=env(world, ATLAS_ORG_DELETE_GRACE_S="0")).returncode == 0
        purged = atlas(shared, "org", "purge", "acme", env=env(world))
        assert purged.returncode == 0 and "dropped" in purged.stdout, purged.stderr + purged.stdout
        with psycopg.connect(shared.admin_url) as conn:
            left = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dedicated.name,)).fetchone()
        assert left is None
        assert traces(shared.admin_url, org) == [] and redis_keys(org) == []
        assert org_snapshot(shared.admin_url, world.org_b) == globex
    finally:
        db_factory.drop(dedicated.name)


def test_bad_delete_input_is_answered_with_the_fix(world: TwoOrgs) -> None:
    for args, extra, said in ((("org", "delete", "nosuch"), {}, "no organization has id or slug 'nosuch'"),
                              (("org", "delete", "acme", "--cancel"), {}, "is not marked for deletion"),
                              (("org", "purge", "acme"), {}, "is not marked for deletion"),
                              (("org", "delete", "acme"), {"ATLAS_ORG_DELETE_GRACE_S": "-1"},
                               "ATLAS_ORG_DELETE_GRACE_S: Input should be greater than or equal to 0")):
        done = atlas(world.db, *args, env=env(world, **extra))
        assert done.returncode == 1 and said in done.stderr, (args, done.stderr)
    assert atlas(world.db, "org", "delete", "acme", env=env(world)).returncode == 0
    twice = atlas(world.db, "org", "delete", "acme", env=env(world))
    assert twice.returncode == 1 and "already marked for deletion" in twice.stderr
