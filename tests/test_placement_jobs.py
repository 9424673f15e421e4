"""Jobs of an org in a dedicated database run (issue 24 item 4), fairly beside the shared database's.

Acme moves to a database of its own once for the module; Globex stays in the shared database. The
worker is the real one (`Worker.run_once`, the worker role's discovery, claims through the door).
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from app.devdb import databases
from app.devdb.databases import DatabaseFactory
from app.http.context import services
from app.placement.locations import location_of
from tests.support import rows
from tests.support.api import ApiUser, TwoOrgs
from tests.support.jobs import enqueue, jobs_world, run_one, worker
from tests.support.placement import CACHE_S, atlas, placement_of, start_paused

SEEDED = {"a": ["Acme East", "Acme West"], "b": ["Globex Main"]}
NAMES = "SELECT name FROM accounts ORDER BY name"
ACCOUNTS = "table: accounts\ndescription: accounts\ndimensions:\n  - name: name\n    sql: name\n    type: string\n"


@pytest.fixture(scope="module")
def dedicated(db_factory: DatabaseFactory) -> Iterator[databases.TestDatabase]:
    db = db_factory.empty()
    yield db
    db_factory.drop(db.name)


@pytest.fixture(scope="module")
def world(db_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory,
          dedicated: databases.TestDatabase) -> Iterator[TwoOrgs]:
    with jobs_world(db_factory, str(tmp_path_factory.mktemp("semantic")), placement_cache_s=CACHE_S) as built:
        with psycopg.connect(built.db.admin_url, autocommit=True) as conn:
            for org, accounts in SEEDED.items():
                for name in accounts:
                    rows.insert_row(conn, "accounts", built.org(org), name=name)
        moved = atlas(built.db, "org", "move", "acme", "--to", dedicated.admin_url)
        assert moved.returncode == 0, moved.stdout + moved.stderr
        yield built


@pytest.fixture
def jobs(world: TwoOrgs, dedicated: databases.TestDatabase) -> TwoOrgs:
    for url in (world.db.admin_url, dedicated.admin_url):
        sql(url, "DELETE FROM jobs")
    time.sleep(CACHE_S * 2 + 0.1)
    return world


def sql(url: str, statement: str, params: Any = None) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row, autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def status(url: str, job_id: uuid.UUID) -> str | None:
    rows = sql(url, "SELECT status FROM jobs WHERE id = %s", (job_id,))
    return rows[0]["status"] if rows else None


def test_a_dedicated_orgs_job_runs_in_its_database(jobs: TwoOrgs, dedicated: databases.TestDatabase) -> None:
    a_job, b_job = enqueue(jobs, "a"), enqueue(jobs, "b")
    assert status(dedicated.admin_url, a_job) == "queued" and status(jobs.db.admin_url, a_job) is None
    assert run_one(jobs) and run_one(jobs)  # on main: only Globex's job runs, Acme's stays queued
    assert status(dedicated.admin_url, a_job) == "succeeded"
    assert status(jobs.db.admin_url, b_job) == "succeeded"
    assert sql(dedicated.admin_url, "SELECT attempts FROM jobs WHERE id = %s", (a_job,)) == [{"attempts": 1}]
    assert run_one(jobs) is False


@pytest.mark.parametrize("busy", ["a", "b"])
def test_an_org_is_served_next_whichever_database_holds_the_busy_one(jobs: TwoOrgs, busy: str,
                                                                    dedicated: databases.TestDatabase) -> None:
    quiet = "b" if busy == "a" else "a"
    for _ in range(30):
        enqueue(jobs, busy)
    quiet_job = enqueue(jobs, quiet)
    runner = worker(jobs)
    served = []
    try:
        for _ in range(2):
            before = _succeeded(jobs, dedicated)
            assert runner.run_once()
            served += [org for org, ids in _succeeded(jobs, dedicated).items()
                       if len(ids) > len(before.get(org, ()))]
    finally:
        runner.close()
    assert jobs.org(quiet) in served, served
    assert quiet_job in _succeeded(jobs, dedicated)[jobs.org(quiet)]


def _succeeded(world: TwoOrgs, dedicated: databases.TestDatabase) -> dict[uuid.UUID, set[uuid.UUID]]:
    found: dict[uuid.UUID, set[uuid.UUID]] = {}
    for url in (world.db.admin_url, dedicated.admin_url):
        for row in sql(url, "SELECT org_id, id FROM jobs WHERE status = 'succeeded'"):
            found.setdefault(row["org_id"], set()).add(row["id"])
    return found


def test_an_unreachable_dedicated_database_does_not_stop_the_others(jobs: TwoOrgs,
                                                                    dedicated: databases.TestDatabase) -> None:
    ghost = uuid.uuid4()
    sql(jobs.db.admin_url, "INSERT INTO organizations (id, name, slug) VALUES (%s, 'Ghost', %s)",
        (ghost, f"ghost-{ghost.hex[:8]}"))
    sql(jobs.db.admin_url, "INSERT INTO org_placements (organization_id, location) VALUES (%s, %s)",
        (ghost, "host=127.0.0.1 port=1 dbname=nowhere"))
    try:
        a_job, b_job = enqueue(jobs, "a"), enqueue(jobs, "b")
        assert run_one(jobs) and run_one(jobs)
        assert status(dedicated.admin_url, a_job) == status(jobs.db.admin_url, b_job) == "succeeded"
    finally:
        sql(jobs.db.admin_url, "DELETE FROM organizations WHERE id = %s", (ghost,))


def test_the_worker_role_learns_locations_only(jobs: TwoOrgs, dedicated: databases.TestDatabase) -> None:
    with psycopg.connect(services(jobs.app).settings.database.worker_database_url, autocommit=True) as conn:
        assert [r[0] for r in conn.execute("SELECT * FROM app.job_databases()")] == \
            [location_of(dedicated.admin_url)]
        for attack in ("SELECT location FROM public.org_placements", "SELECT organization_id FROM public.org_placements"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(attack)
    with psycopg.connect(jobs.db.app_url, autocommit=True) as conn, pytest.raises(
            psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT * FROM app.job_databases()")


def test_jobs_follow_the_org_home_and_a_copy_left_behind_never_runs(jobs: TwoOrgs,
                                                                   dedicated: databases.TestDatabase) -> None:
    """Killed after the switch home: the dedicated database still holds the job's copy; only the live one runs."""
    shared = jobs.db
    job = enqueue(jobs, "a")
    process = start_paused(shared, "switched", "org", "move", "acme", "--back")
    process.kill()
    process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()
    try:
        assert placement_of(shared, jobs.org_a) is None
        assert status(dedicated.admin_url, job) == status(shared.admin_url, job) == "queued"
        time.sleep(CACHE_S * 2 + 0.1)
        assert run_one(jobs)
        assert status(shared.admin_url, job) == "succeeded"
        assert status(dedicated.admin_url, job) == "queued"  # the copy was never claimed
        assert run_one(jobs) is False  # and is not offered again
    finally:
        back = atlas(shared, "org", "move", "acme", "--back")
        assert back.returncode == 0, back.stdout + back.stderr
        again = atlas(shared, "org", "move", "acme", "--to", dedicated.admin_url)
        assert again.returncode == 0, again.stdout + again.stderr


# ----- the jobs API for a dedicated org, with an API key (the suites of tests/test_jobs_api.py) -----
def test_a_dedicated_orgs_scheduled_query_enqueued_with_a_key_keeps_its_results_in_its_database(
        jobs: TwoOrgs, dedicated: databases.TestDatabase) -> None:
    owner = jobs.user("a", "owner")
    r = owner.put("/api/v1/admin/semantic/org/entities/accounts", json={"yamlContent": ACCOUNTS})
    assert r.status_code in (200, 201), r.get_json()
    key = owner.post("/api/v1/admin/api-keys", json={"name": "scheduler", "role": "admin"}).get_json()
    machine = ApiUser(client=jobs.app.test_client(), token=key["key"], user_id=uuid.uuid4(), email="key@machine")
    r = machine.post("/api/v1/jobs", json={"kind": "scheduled_query", "payload": {"sql": NAMES},
                                           "schedule": "0 6 * * *"})
    assert r.status_code == 201, r.get_json()
    job = r.get_json()
    assert job["apiKeyId"] == key["id"]
    sql(dedicated.admin_url, "UPDATE jobs SET run_after = now() WHERE id = %s", (job["id"],))
    assert run_one(jobs)
    kept = machine.get(f"/api/v1/jobs/{job['id']}/results").get_json()["data"]
    assert [r["result"]["rows"] for r in kept] == [[["Acme East"], ["Acme West"]]]  # never Globex's
    assert len(sql(dedicated.admin_url, "SELECT id FROM job_results WHERE job_id = %s", (job["id"],))) == 1
    assert sql(jobs.db.admin_url, "SELECT id FROM job_results WHERE job_id = %s", (job["id"],)) == []


@pytest.mark.parametrize("attacker,victim", [("b", "a"), ("a", "b")], ids=["shared-on-dedicated",
                                                                           "dedicated-on-shared"])
def test_an_org_cannot_read_cancel_or_retry_a_job_of_an_org_in_another_database(
        jobs: TwoOrgs, dedicated: databases.TestDatabase, attacker: str, victim: str) -> None:
    theirs = jobs.user(victim, "admin").post("/api/v1/jobs", json={"kind": "reprofile"}).get_json()
    home = dedicated.admin_url if victim == "a" else jobs.db.admin_url
    before = sql(home, "SELECT * FROM jobs WHERE id = %s", (theirs["id"],))
    assert before
    intruder = jobs.user(attacker, "owner")
    for method, path in (("GET", ""), ("GET", "/results"), ("POST", "/cancel"), ("POST", "/retry")):
        r = intruder.get(f"/api/v1/jobs/{theirs['id']}{path}") if method == "GET" else \
            intruder.post(f"/api/v1/jobs/{theirs['id']}{path}")
        assert r.status_code == 404, (path, r.get_json())
    assert theirs["id"] not in {j["id"] for j in intruder.get("/api/v1/jobs").get_json()["data"]}
    assert sql(home, "SELECT * FROM jobs WHERE id = %s", (theirs["id"],)) == before
