"""Background-job test helpers: two orgs with job settings fit for tests, a worker on the same services."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from app.config import JobSettings
from app.devdb.databases import DatabaseFactory, TestDatabase
from app.http.context import services
from app.jobs import Worker, store
from tests.support.api import TwoOrgs, two_org_world

ROOT = Path(__file__).resolve().parents[2]

# Short leases and backoffs so that expiry and retries happen within a test.
JOB_SETTINGS: dict[str, Any] = {
    "job_lease_s": 1.0, "job_poll_s": 0.05, "job_backoff_base_s": 0.05, "job_backoff_max_s": 0.2,
    "job_max_running_per_org": 2,
}


@contextmanager
def jobs_world(db_factory: DatabaseFactory, semantic_root: str, **overrides: Any) -> Iterator[TwoOrgs]:
    with two_org_world(db_factory, semantic_root=semantic_root, **{**JOB_SETTINGS, **overrides}) as world:
        yield world


def job_config(world: TwoOrgs) -> JobSettings:
    return services(world.app).jobs


def worker(world: TwoOrgs, name: str = "test-worker") -> Worker:
    return Worker(services(world.app), job_config(world), name=name)


def enqueue(world: TwoOrgs, org: str, kind: str = "sleep", **kw: Any) -> uuid.UUID:
    """A job enqueued as org's admin through the store (the API refuses the diagnostic `sleep` kind)."""
    admin = world.user(org, "admin")
    row = store.enqueue(services(world.app).db, job_config(world), org_id=world.org(org), user_id=admin.user_id,
                        kind=kind, public_only=False, audit_actor=admin.user_id, **kw)
    return uuid.UUID(str(row["id"]))


def job_row(world: TwoOrgs, job_id: uuid.UUID) -> dict[str, Any]:
    """The job's row as the superuser sees it (no RLS): what really is in the table."""
    with psycopg.connect(world.db.admin_url, row_factory=dict_row) as conn:
        row = conn.execute("SELECT * FROM jobs WHERE id = %s", (job_id,)).fetchone()
    assert row is not None
    return row


def admin_sql(world: TwoOrgs, statement: str, params: Any = None) -> list[dict[str, Any]]:
    with psycopg.connect(world.db.admin_url, row_factory=dict_row, autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def audit_actions(world: TwoOrgs, job_id: uuid.UUID) -> list[dict[str, Any]]:
    return admin_sql(world, "SELECT action, actor_user_id, outcome, detail, org_id FROM audit_log"
                            " WHERE entity = 'job' AND entity_id = %s ORDER BY occurred_at, id", (str(job_id),))


def wait_for(check: Callable[[], bool], *, timeout_s: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def clear_jobs(world: TwoOrgs) -> None:
    admin_sql(world, "DELETE FROM jobs")


def run_one(world: TwoOrgs, name: str = "test-worker") -> bool:
    """One worker's run_once, its finder connection closed after."""
    runner = worker(world, name)
    try:
        return runner.run_once()
    finally:
        runner.close()


@contextmanager
def atlas_worker(db: TestDatabase, folder: Path, *, poll_s: float = 0.1) -> Iterator[subprocess.Popen[bytes]]:
    """`atlas worker` on `db` as a process of its own, configured only through its environment (its
    semantic root and log in `folder`); stopped after."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": db.admin_url,
           "ATLAS_ROLE_PREFIX": db.roles.owner.removesuffix("_owner"), "ATLAS_JOB_POLL_S": str(poll_s),
           "ATLAS_SEMANTIC_ROOT": str(folder), "ATLAS_CONFIG": os.devnull + ".absent"}
    with open(folder / "worker.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], cwd=folder, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
