"""`atlas backup` and `atlas org restore`: one org put back as it was at T, the other org as it is now.

A private cluster archives its WAL with pgBackRest into a local repository
(tests/support/archiving.py). Acme and Globex write before a backup, between
the backup and T, and after T; restoring Acme to T must give Acme's every row
at T (its audit trail keeps what came after, plus the restore) and leave
Globex's every row as it was just before the restore.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.support.api import ApiUser, TwoOrgs, build_two_orgs, close_app, invite_and_join, make_app, sign_up
from tests.support.archiving import ArchivingCluster, archiving_cluster
from tests.support.org_rows import org_snapshot
from tests.support.placement import CACHE_S, atlas

APPEND_ONLY = {"audit_log", "idempotency_keys"}


@pytest.fixture(scope="module")
def archiving() -> Iterator[ArchivingCluster]:
    with archiving_cluster() as made:
        yield made


@pytest.fixture(scope="module")
def world(archiving: ArchivingCluster) -> Iterator[TwoOrgs]:
    """Acme and Globex in the cluster's migrated database itself, one world for the module.

    Not a clone: every backup and scratch restore copies the whole cluster, so it holds one Atlas
    database (and Globex's dedicated one), not a template beside it. The tests after the restore
    test only run commands that are refused before they touch a row.
    """
    db = archiving.factory.describe(archiving.factory.template)
    app = make_app(db, cache_backend="none", placement_cache_s=CACHE_S)
    try:
        yield build_two_orgs(app, db)
    finally:
        close_app(app)


def add_account(user: ApiUser, name: str) -> str:
    r = user.post("/api/v1/accounts", json={"name": name})
    assert r.status_code == 201, r.get_json()
    return str(r.get_json()["id"])


def entity(table: str) -> dict[str, Any]:
    return {"yamlContent": f"table: {table}\ndescription: T\ndimensions:\n  - name: id\n    sql: id\n    type: uuid\n"}


def now_in(admin_url: str) -> datetime:
    with psycopg.connect(admin_url) as conn:
        row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def test_restoring_one_org_to_t_gives_its_rows_at_t_and_leaves_the_other_org_as_it_is(
        world: TwoOrgs, archiving: ArchivingCluster) -> None:
    env, shared = archiving.env(), world.db
    a, b = world.user("a", "owner"), world.user("b", "owner")
    add_account(a, "acme before the backup")
    add_account(b, "globex before the backup")
    dedicated = archiving.factory.empty()  # Globex lives in a database of its own on the same cluster
    moved = atlas(shared, "org", "move", "globex", "--to", dedicated.admin_url)
    assert moved.returncode == 0, moved.stderr + moved.stdout
    time.sleep(CACHE_S * 2 + 0.1)

    def globex() -> dict[str, set[str]]:
        return {f"{where}.{table}": rows for where, url in (("shared", shared.admin_url),
                                                            ("dedicated", dedicated.admin_url))
                for table, rows in org_snapshot(url, world.org_b).items()}

    told = atlas(shared, "backup", "setup", env=env)  # without --apply: says what to set, sets nothing
    assert told.returncode == 0 and "archive_command = '" in told.stdout, told.stderr + told.stdout
    unset = atlas(shared, "backup", "check", env=env)
    assert unset.returncode == 1 and "archive_command is ''" in unset.stderr and "--apply" in unset.stderr, \
        unset.stderr
    setup = atlas(shared, "backup", "setup", "--apply", env=env)
    assert setup.returncode == 0, setup.stderr + setup.stdout
    checked = atlas(shared, "backup", "check", env=env)
    assert checked.returncode == 0, checked.stderr + checked.stdout
    started = time.monotonic()
    taken = atlas(shared, "backup", "run", env=env, timeout_s=600)
    assert taken.returncode == 0, taken.stderr + taken.stdout
    print(f"full backup: {time.monotonic() - started:.1f} s")
    time.sleep(1.1)  # pgBackRest records the backup's end to the second

    # Between the backup and T: Acme's rows, settings, semantic layer and an API key; Globex's rows.
    kept = add_account(a, "acme between the backup and T")
    assert a.patch("/api/v1/settings", json={"queryRowLimit": 123}).status_code == 200
    assert a.put("/api/v1/admin/semantic/org/entities/accounts", json=entity("accounts")).status_code in (200, 201)
    key = a.post("/api/v1/admin/api-keys", json={"name": "before T", "role": "member"})
    assert key.status_code == 201, key.get_json()
    add_account(b, "globex between the backup and T")
    at_t, globex_at_t = org_snapshot(shared.admin_url, world.org_a), globex()
    to_time = now_in(shared.admin_url)
    time.sleep(0.3)

    # After T: the "we deleted it by mistake" ticket, and more of everything, in both orgs.
    assert a.delete(f"/api/v1/accounts/{kept}").status_code in (200, 204)
    add_account(a, "acme after T")
    assert a.patch("/api/v1/settings", json={"queryRowLimit": 7}).status_code == 200
    assert a.delete("/api/v1/admin/semantic/org/entities/accounts").status_code in (200, 204)
    assert a.post("/api/v1/admin/api-keys", json={"name": "after T", "role": "member"}).status_code == 201
    assert a.delete(f"/api/v1/admin/api-keys/{key.get_json()['id']}").status_code in (200, 204)  # leaked?
    newcomer = sign_up(world.app, "newcomer@acme.test")
    invite_and_join(a, newcomer, "member")
    add_account(b, "globex after T")
    assert a.patch("/api/v1/settings", json={"queryRowLimit": 9}).status_code == 200
    before_restore_a = org_snapshot(shared.admin_url, world.org_a)
    latest_b = globex()

    dry = atlas(shared, "org", "restore", "acme", "--to-time", to_time.isoformat(), "--dry-run", env=env,
                timeout_s=600)
    assert dry.returncode == 0, dry.stderr + dry.stdout
    assert "accounts: 2 rows now, 2 at T: 1 to remove, 1 to add" in dry.stdout, dry.stdout
    assert "dry run: nothing changed" in dry.stdout
    assert org_snapshot(shared.admin_url, world.org_a) == before_restore_a

    started = time.monotonic()
    restored = atlas(shared, "org", "restore", "acme", "--to-time", to_time.isoformat(), env=env, timeout_s=600)
    assert restored.returncode == 0, restored.stderr + restored.stdout
    print(f"restore: {time.monotonic() - started:.1f} s\n{restored.stdout}")

    after = org_snapshot(shared.admin_url, world.org_a)
    for table, rows in at_t.items():
        if table in APPEND_ONLY:
            assert rows <= after[table], table  # the trail of what came after T is kept
        elif table == "api_keys":
            assert len(after[table]) == len(rows)  # the key revoked after T stays revoked (checked below)
        else:
            assert after[table] == rows, table
    assert globex() == latest_b
    with psycopg.connect(shared.admin_url) as conn:
        revoked = conn.execute("SELECT revoked_at IS NOT NULL FROM api_keys WHERE id = %s",
                               (key.get_json()["id"],)).fetchone()
        audited = conn.execute("SELECT detail FROM platform_audit WHERE action = 'organization.restore'"
                               " AND target_org_id = %s", (world.org_a,)).fetchone()
        trail = conn.execute("SELECT count(*) FROM audit_log WHERE org_id = %s AND action = 'organization.restore'",
                             (world.org_a,)).fetchone()
    assert revoked == (True,)
    assert audited is not None and audited[0]["tables"]["accounts"] == {"at_t": 2, "before": 2, "added": 1,
                                                                         "removed": 1}
    assert audited[0]["to_time"] == to_time.isoformat() and trail == (1,)
    # Sessions bound to Acme after T are revoked; the API still serves the restored org.
    assert newcomer.get("/api/v1/accounts").status_code == 401
    names = sorted(r["name"] for r in world.user("a", "admin").get("/api/v1/accounts").get_json()["data"])
    assert names == ["acme before the backup", "acme between the backup and T"]

    # Globex, in its dedicated database, back to T too: its placed rows as at T, Acme as just restored.
    acme_now = org_snapshot(shared.admin_url, world.org_a)
    again = atlas(shared, "org", "restore", "globex", "--to-time", to_time.isoformat(), env=env, timeout_s=600)
    assert again.returncode == 0, again.stderr + again.stdout
    now_b = globex()
    for table, rows in globex_at_t.items():
        if table.startswith("dedicated.") and table.split(".")[1] not in APPEND_ONLY | {"members"}:
            assert now_b[table] == rows, table
    assert org_snapshot(shared.admin_url, world.org_a) == acme_now

    too_early = atlas(shared, "org", "restore", "acme", "--to-time", "2000-01-01T00:00:00Z", env=env)
    assert too_early.returncode == 1 and "before the oldest backup" in too_early.stderr, too_early.stderr
    listed = atlas(shared, "backup", "list", env=env)
    print(listed.stdout)
    assert listed.returncode == 0 and "full" in listed.stdout and "restorable from" in listed.stdout


@pytest.mark.parametrize(("args", "said"), [
    (("org", "restore", "nosuch", "--to-time", "2026-01-01T00:00:00Z"), "no organization has id or slug 'nosuch'"),
    (("org", "restore", "acme", "--to-time", "yesterday"), "not an ISO 8601 time"),
    (("org", "restore", "acme", "--to-time", "2026-01-01T00:00:00"), "needs a time zone"),
    (("org", "restore", "acme", "--to-time", (datetime.now(UTC) + timedelta(days=1)).isoformat()), "not in the past"),
    (("backup", "list"), "run atlas backup setup"),
])
def test_bad_restore_and_backup_input_is_answered_with_the_fix(world: TwoOrgs, archiving: ArchivingCluster,
                                                              args: tuple[str, ...], said: str) -> None:
    env = {**archiving.env(), "ATLAS_BACKUP_CONFIG": str(archiving.cluster.base / "absent.conf")}
    done = atlas(world.db, *args, env=env)
    assert done.returncode == 1 and said in done.stderr, done.stderr + done.stdout


def test_a_missing_pgbackrest_is_named_with_how_to_install_it(world: TwoOrgs, archiving: ArchivingCluster) -> None:
    done = atlas(world.db, "backup", "setup", env={**archiving.env(), "PATH": "/nonexistent"})
    assert done.returncode == 1 and "pgbackrest is not on PATH" in done.stderr and "apt-get install pgbackrest" \
        in done.stderr, done.stderr
