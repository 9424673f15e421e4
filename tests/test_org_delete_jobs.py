"""An org marked for deletion runs none of its jobs during the grace period; --cancel brings them all back.

The worker leaves them as they are (not run, not failed, not touched): a job
failed for "creator no longer a member" would stay dead after --cancel, and
the purge erases them anyway. Another org's jobs keep running meanwhile.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.devdb.databases import DatabaseFactory
from app.http.context import services
from app.orgdata import deletion
from tests.support.api import TwoOrgs
from tests.support.jobs import admin_sql, enqueue, job_row, jobs_world, run_one


@pytest.fixture
def world(db_factory: DatabaseFactory, tmp_path: Path) -> Iterator[TwoOrgs]:
    with jobs_world(db_factory, str(tmp_path / "semantic")) as built:
        yield built


def test_a_marked_orgs_queued_and_scheduled_jobs_wait_untouched_and_run_again_after_cancel(world: TwoOrgs) -> None:
    once = enqueue(world, "a", kind="sleep")
    scheduled = enqueue(world, "a", kind="sleep", schedule="0 6 * * *")
    admin_sql(world, "UPDATE jobs SET run_after = now() WHERE id = %s", (scheduled,))
    globex = enqueue(world, "b", kind="sleep")
    settings = services(world.app).settings
    before = {job: job_row(world, job) for job in (once, scheduled)}

    deletion.mark(settings, world.org_a, grace_s=3600)
    assert run_one(world)  # Globex's job, past Acme's due ones
    assert job_row(world, globex)["status"] == "succeeded"
    assert run_one(world) is False and run_one(world) is False  # Acme's are due, and left alone
    assert {job: job_row(world, job) for job in (once, scheduled)} == before
    assert admin_sql(world, "SELECT count(*) AS n FROM audit_log WHERE org_id = %s AND entity = 'job'"
                            " AND action <> 'job.enqueue'", (world.org_a,))[0]["n"] == 0

    deletion.cancel(settings, world.org_a)
    assert run_one(world) and run_one(world)
    assert job_row(world, once)["status"] == "succeeded"
    again = job_row(world, scheduled)
    assert (again["status"], again["attempts"], again["last_error"]) == ("queued", 0, None)
    assert again["run_after"] > dt.datetime.now(dt.UTC)  # its next time, as any schedule
