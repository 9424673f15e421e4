"""The job worker: leases survive SIGKILL, retries back off, the dead letter, cancel, fairness, the one door.

Jobs here are the diagnostic `sleep` kind (app/jobs/kinds.py): it holds a
worker for a set time, reports progress, and can fail its first attempts.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from app.http.context import services
from app.jobs import queue
from tests.support.jobs import (
    admin_sql,
    audit_actions,
    clear_jobs,
    enqueue,
    job_config,
    job_row,
    jobs_world,
    run_one,
    wait_for,
    worker,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def world(db_factory, tmp_path_factory):
    with jobs_world(db_factory, str(tmp_path_factory.mktemp("semantic"))) as world:
        yield world


@pytest.fixture
def jobs(world):
    clear_jobs(world)
    return world


def _worker_process(world, tmp_path: Path, log) -> subprocess.Popen:
    """`atlas worker` as a process of its own, configured only through its environment."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": world.db.admin_url,
           "ATLAS_ROLE_PREFIX": world.db.roles.owner.removesuffix("_owner"), "ATLAS_JOB_LEASE_S": "1",
           "ATLAS_JOB_POLL_S": "0.05", "ATLAS_SEMANTIC_ROOT": str(tmp_path), "ATLAS_CONFIG": os.devnull + ".absent"}
    return subprocess.Popen([sys.executable, "-m", "app.cli", "-v", "worker"], cwd=tmp_path, env=env,
                            stdout=log, stderr=subprocess.STDOUT)


def test_a_job_survives_its_worker_killed_with_sigkill_and_completes_after_the_lease(jobs, tmp_path):
    job_id = enqueue(jobs, "a", payload={"seconds": 3})
    with open(tmp_path / "worker.log", "wb") as log:
        process = _worker_process(jobs, tmp_path, log)
        try:
            wait_for(lambda: job_row(jobs, job_id)["progress_done"] >= 2, what="the job to report progress")
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL, (tmp_path / "worker.log").read_text()
    killed = job_row(jobs, job_id)
    assert (killed["status"], killed["attempts"]) == ("running", 1)
    # While the lease holds nobody may take the job (checked when enough of it is left to be sure).
    left = admin_sql(jobs, "SELECT extract(epoch FROM lease_expires_at - now()) AS s FROM jobs WHERE id = %s",
                     (job_id,))[0]["s"]
    if left > 0.3:
        assert run_one(jobs) is False
    wait_for(lambda: run_one(jobs, "rescuer"), what="the expired lease to be claimed again")
    done = job_row(jobs, job_id)
    assert (done["status"], done["attempts"], done["progress_done"]) == ("succeeded", 2, 10)
    assert [a["action"] for a in audit_actions(jobs, job_id)] == ["job.enqueue", "job.succeeded"]


def test_a_failing_job_is_retried_with_backoff_then_succeeds(jobs):
    job_id = enqueue(jobs, "a", payload={"failAttempts": 1}, max_attempts=3)
    assert run_one(jobs) is True
    failed = job_row(jobs, job_id)
    assert (failed["status"], failed["attempts"]) == ("queued", 1)
    assert "failing attempt 1" in failed["last_error"]
    assert failed["run_after"] > failed["locked_at"]  # backoff: not due at once
    wait_for(lambda: run_one(jobs), what="the retry")
    done = job_row(jobs, job_id)
    assert (done["status"], done["attempts"]) == ("succeeded", 2)
    assert [a["action"] for a in audit_actions(jobs, job_id)] == ["job.enqueue", "job.retry_scheduled",
                                                                  "job.succeeded"]


def test_backoff_doubles_up_to_its_cap():
    from app.config import Settings

    config = Settings.from_mapping({"job_backoff_base_s": 2, "job_backoff_max_s": 10}).jobs
    assert [config.backoff_s(n) for n in (1, 2, 3, 4)] == [2, 4, 8, 10]


def test_a_job_failing_every_attempt_goes_to_the_dead_letter_and_can_be_retried(jobs):
    job_id = enqueue(jobs, "a", payload={"failAttempts": 100}, max_attempts=3)
    for _ in range(3):
        wait_for(lambda: run_one(jobs), what="the next attempt")
    dead = job_row(jobs, job_id)
    assert (dead["status"], dead["attempts"]) == ("dead", 3)
    assert "failing attempt 3" in dead["last_error"] and dead["finished_at"] is not None
    assert run_one(jobs) is False  # dead letters are never picked up again
    actions = [(a["action"], a["actor_user_id"]) for a in audit_actions(jobs, job_id)]
    admin = jobs.user("a", "admin").user_id
    assert actions == [("job.enqueue", admin), ("job.retry_scheduled", admin), ("job.retry_scheduled", admin),
                       ("job.dead", admin)]
    r = jobs.user("a", "admin").post(f"/api/v1/jobs/{job_id}/retry")
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["status"], r.get_json()["attempts"]) == ("queued", 0)


def test_a_worker_dying_on_the_last_attempt_sends_the_job_to_the_dead_letter(jobs):
    job_id = enqueue(jobs, "a", max_attempts=1)
    admin_sql(jobs, "UPDATE jobs SET status = 'running', attempts = 1, lease_owner = 'gone',"
                    " lease_expires_at = now() - interval '1 second' WHERE id = %s", (job_id,))
    assert run_one(jobs) is False
    dead = job_row(jobs, job_id)
    assert dead["status"] == "dead" and "lease expired" in dead["last_error"]


def test_cancelling_a_running_job_stops_it_at_its_next_progress_report(jobs):
    job_id = enqueue(jobs, "a", payload={"seconds": 5})
    runner = threading.Thread(target=run_one, args=(jobs,))
    started = time.monotonic()
    runner.start()
    wait_for(lambda: job_row(jobs, job_id)["progress_done"] >= 1, what="the job to start")
    r = jobs.user("a", "owner").post(f"/api/v1/jobs/{job_id}/cancel")
    assert r.status_code == 200 and r.get_json()["status"] == "canceled", r.get_json()
    runner.join(timeout=10)
    assert time.monotonic() - started < 4
    row = job_row(jobs, job_id)
    assert row["status"] == "canceled" and row["progress_done"] < 10
    assert "job.succeeded" not in [a["action"] for a in audit_actions(jobs, job_id)]


def test_a_queued_cancelled_job_never_runs(jobs):
    job_id = enqueue(jobs, "a")
    assert jobs.user("a", "admin").post(f"/api/v1/jobs/{job_id}/cancel").status_code == 200
    assert run_one(jobs) is False
    assert job_row(jobs, job_id)["attempts"] == 0


def test_org_b_is_served_next_although_org_a_has_many_queued_jobs(jobs):
    for _ in range(200):
        enqueue(jobs, "a")
    b_job = enqueue(jobs, "b")
    order = []
    runner = worker(jobs)
    try:
        for _ in range(3):
            before = {r["id"] for r in admin_sql(jobs, "SELECT id FROM jobs WHERE status = 'succeeded'")}
            assert runner.run_once()
            after = admin_sql(jobs, "SELECT id, org_id FROM jobs WHERE status = 'succeeded'")
            order += [r["org_id"] for r in after if r["id"] not in before]
    finally:
        runner.close()
    assert jobs.org_b in order[:2], order
    assert job_row(jobs, b_job)["status"] == "succeeded"


def test_an_org_never_runs_more_jobs_at_once_than_its_cap(jobs):
    ids = [enqueue(jobs, "a") for _ in range(3)]
    config, db = job_config(jobs), services(jobs.app).db
    claimed = [queue.claim(db, config, jobs.org_a, job_id, owner=f"w{n}") for n, job_id in enumerate(ids)]
    assert [c is not None for c in claimed] == [True, True, False]
    with psycopg.connect(services(jobs.app).settings.database.worker_database_url) as conn:
        due = conn.execute("SELECT org_id FROM app.due_jobs(2, 10, NULL)").fetchall()
    assert due == []  # at its cap, the org is not offered at all


def test_the_worker_role_can_only_ask_for_due_job_ids(jobs):
    enqueue(jobs, "a")
    enqueue(jobs, "b")
    with psycopg.connect(services(jobs.app).settings.database.worker_database_url, autocommit=True) as conn:
        cur = conn.execute("SELECT * FROM app.due_jobs(2, 10, NULL)")
        assert [c.name for c in cur.description] == ["org_id", "job_id"]
        assert {r[0] for r in cur.fetchall()} == {jobs.org_a, jobs.org_b}
        for attack in ("SELECT payload FROM public.jobs", "SELECT count(*) FROM public.accounts",
                       "UPDATE public.jobs SET status = 'canceled'", "SELECT set_config('app.org_id', NULL, true)"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(attack)
    with psycopg.connect(jobs.db.app_url, autocommit=True) as conn, pytest.raises(
            psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT * FROM app.due_jobs(2, 10, NULL)")  # the application role may not look across orgs


def test_a_job_whose_creator_lost_admin_rights_does_not_run(jobs):
    job_id = enqueue(jobs, "a")
    admin = jobs.user("a", "admin")
    admin_sql(jobs, "UPDATE members SET role = 'member' WHERE org_id = %s AND user_id = %s",
              (jobs.org_a, admin.user_id))
    try:
        assert run_one(jobs) is False
        row = job_row(jobs, job_id)
        assert row["status"] == "dead" and "no longer an admin or owner" in row["last_error"]
        assert audit_actions(jobs, job_id)[-1]["outcome"] == "refused"
    finally:
        admin_sql(jobs, "UPDATE members SET role = 'admin' WHERE org_id = %s AND user_id = %s",
                  (jobs.org_a, admin.user_id))


def test_an_api_key_enqueuing_is_recorded_beside_its_creator(jobs):
    made = jobs.user("a", "admin").post("/api/v1/admin/api-keys", json={"name": "jobs", "role": "admin"})
    assert made.status_code == 201, made.get_json()
    key = uuid.UUID(made.get_json()["id"])  # a live key: the worker refuses a job whose key is gone
    job_id = enqueue(jobs, "a", api_key_id=key)
    assert run_one(jobs)
    entries = audit_actions(jobs, job_id)
    assert {e["detail"].get("apiKeyId") for e in entries} == {str(key)}
    assert {e["actor_user_id"] for e in entries} == {jobs.user("a", "admin").user_id}
