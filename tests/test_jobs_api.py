"""/api/v1/jobs end to end: who may do what, each job kind's real effect, and org A never reaching B.

Jobs are enqueued through the API and run by an in-process worker on the same
services (tests/support/jobs.py); rows are seeded and checked as the superuser.
"""
from __future__ import annotations

import psycopg
import pytest

from app.http.context import services
from tests.support import rows
from tests.support.errors import error_code, error_of
from tests.support.jobs import admin_sql, audit_actions, clear_jobs, job_row, jobs_world, run_one

JOBS = "/api/v1/jobs"
NAMES = "SELECT name FROM accounts ORDER BY name"
ACCOUNTS = "table: accounts\ndescription: accounts\ndimensions:\n  - name: name\n    sql: name\n    type: string\n"
SEEDED = {"a": [("Acme East", "aerospace"), ("Acme West", "aerospace")], "b": [("Globex Main", "espionage")]}


@pytest.fixture(scope="module")
def world(db_factory, tmp_path_factory):
    with jobs_world(db_factory, str(tmp_path_factory.mktemp("semantic"))) as world:
        with psycopg.connect(world.db.admin_url, autocommit=True) as conn:
            for org, accounts in SEEDED.items():
                for name, industry in accounts:
                    rows.insert_row(conn, "accounts", world.org(org), name=name, industry=industry)
        yield world


@pytest.fixture
def jobs(world):
    clear_jobs(world)
    return world


def enqueue(user, **body):  # type: ignore[no-untyped-def]
    r = user.post(JOBS, json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


@pytest.mark.parametrize("role,status", [("member", 403), ("admin", 201), ("owner", 201)])
def test_admins_and_owners_enqueue_members_may_not(jobs, role, status):
    r = jobs.user("a", role).post(JOBS, json={"kind": "reprofile"})
    assert r.status_code == status, r.get_json()
    if status == 403:
        assert admin_sql(jobs, "SELECT count(*) AS n FROM jobs")[0]["n"] == 0
    else:
        body = r.get_json()
        assert (body["status"], body["attempts"], body["createdBy"]) == ("queued", 0, str(jobs.user("a", role).user_id))
        entry = audit_actions(jobs, body["id"])[0]
        assert (entry["action"], entry["actor_user_id"], entry["org_id"]) == (
            "job.enqueue", jobs.user("a", role).user_id, jobs.org_a)


@pytest.mark.parametrize("body,field", [
    ({"kind": "mine_bitcoin"}, "kind"), ({"kind": "sleep"}, "kind"), ({}, "kind"),
    ({"kind": "scheduled_query", "payload": {"sql": NAMES}}, "schedule"),
    ({"kind": "scheduled_query", "payload": {"sql": NAMES}, "schedule": "every day"}, "schedule"),
    ({"kind": "scheduled_query", "schedule": "0 6 * * *"}, "payload.sql"),
    ({"kind": "warm_cache", "payload": {"recent": 1000}}, "payload.recent"),
    ({"kind": "reprofile", "unknown": 1}, "unknown"),
])
def test_bad_job_requests_are_refused_with_the_field_named(jobs, body, field):
    r = jobs.user("a", "admin").post(JOBS, json=body)
    assert r.status_code == 400 and error_code(r) == "validation_error", r.get_json()
    assert field in error_of(r)["fields"], error_of(r)


@pytest.mark.parametrize("schedule", ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6,9,11 *"])
def test_a_schedule_naming_a_date_that_never_comes_is_400_and_queues_nothing(jobs, schedule):
    """croniter accepts each field alone; the next run is computed (bounded) at validation time."""
    r = jobs.user("a", "admin").post(JOBS, json={"kind": "scheduled_query", "payload": {"sql": NAMES},
                                                 "schedule": schedule})
    assert r.status_code == 400 and error_code(r) == "validation_error", r.get_json()
    assert "schedule" in error_of(r)["fields"] and "does not exist" in r.get_json()["message"]
    assert admin_sql(jobs, "SELECT count(*) AS n FROM jobs")[0]["n"] == 0
    leap = enqueue(jobs.user("a", "admin"), kind="scheduled_query", payload={"sql": NAMES}, schedule="0 0 29 2 *")
    assert leap["runAfter"][5:10] == "02-29"  # a rare date that exists is still accepted


def test_a_job_body_naming_another_org_is_refused_and_nothing_is_queued(jobs):
    r = jobs.user("a", "admin").post(JOBS, json={"kind": "reprofile", "organizationId": str(jobs.org_b)})
    assert r.status_code == 403 and error_code(r) == "cross_org_refused", r.get_json()
    assert admin_sql(jobs, "SELECT count(*) AS n FROM jobs")[0]["n"] == 0


def test_members_list_and_get_their_orgs_jobs_only(jobs):
    mine = enqueue(jobs.user("a", "admin"), kind="reprofile")
    theirs = enqueue(jobs.user("b", "admin"), kind="reprofile")
    listed = jobs.user("a", "member").get(JOBS).get_json()["data"]
    assert [j["id"] for j in listed] == [mine["id"]]
    assert jobs.user("a", "member").get(f"{JOBS}/{mine['id']}").get_json()["progress"] == {
        "done": 0, "total": None, "message": None}
    for path in (f"{JOBS}/{theirs['id']}", f"{JOBS}/{theirs['id']}/results", f"{JOBS}/not-a-uuid"):
        r = jobs.user("a", "owner").get(path)
        assert r.status_code == 404 and error_code(r) == "not_found", path


def test_the_list_filters_recurring_jobs_from_one_off_ones_in_the_orgs_own_jobs(jobs):
    once = enqueue(jobs.user("a", "admin"), kind="reprofile")
    recurring = enqueue(jobs.user("a", "admin"), kind="scheduled_query", payload={"sql": NAMES}, schedule="0 0 1 1 *")
    enqueue(jobs.user("b", "admin"), kind="scheduled_query", payload={"sql": NAMES}, schedule="0 0 1 1 *")
    member = jobs.user("a", "member")
    assert [j["id"] for j in member.get(f"{JOBS}?scheduled=true").get_json()["data"]] == [recurring["id"]]
    assert [j["id"] for j in member.get(f"{JOBS}?scheduled=false").get_json()["data"]] == [once["id"]]
    assert len(member.get(JOBS).get_json()["data"]) == 2
    r = member.get(f"{JOBS}?scheduled=yes")
    assert r.status_code == 400 and error_of(r)["fields"] == {"scheduled": "must be true or false"}


def test_org_a_cannot_cancel_or_retry_org_bs_job(jobs):
    theirs = enqueue(jobs.user("b", "admin"), kind="reprofile")
    before = job_row(jobs, theirs["id"])
    for action in ("cancel", "retry"):
        r = jobs.user("a", "owner").post(f"{JOBS}/{theirs['id']}/{action}")
        assert r.status_code == 404, r.get_json()
    assert job_row(jobs, theirs["id"]) == before
    assert [a["action"] for a in audit_actions(jobs, theirs["id"])] == ["job.enqueue"]


def test_cancel_and_retry_follow_the_jobs_state(jobs):
    job = enqueue(jobs.user("a", "admin"), kind="reprofile")
    owner = jobs.user("a", "owner")
    assert jobs.user("a", "member").post(f"{JOBS}/{job['id']}/cancel").status_code == 403
    assert owner.post(f"{JOBS}/{job['id']}/retry").status_code == 409  # queued: nothing to retry
    assert owner.post(f"{JOBS}/{job['id']}/cancel").get_json()["status"] == "canceled"
    r = owner.post(f"{JOBS}/{job['id']}/cancel")
    assert r.status_code == 409 and error_code(r) == "job_state_conflict"
    assert owner.post(f"{JOBS}/{job['id']}/retry").get_json()["status"] == "queued"
    assert [(a["action"], a["actor_user_id"]) for a in audit_actions(jobs, job["id"])][1:] == [
        ("job.cancel", owner.user_id), ("job.retry", owner.user_id)]


def test_reprofile_builds_the_orgs_layer_from_its_rows_only_with_progress(jobs):
    admin_sql(jobs, "DELETE FROM semantic_entities")
    job = enqueue(jobs.user("a", "admin"), kind="reprofile", payload={"tables": ["accounts", "contacts"]})
    assert run_one(jobs)
    done = jobs.user("a", "member").get(f"{JOBS}/{job['id']}").get_json()
    assert done["status"] == "succeeded", done
    assert (done["progress"]["done"], done["progress"]["total"]) == (2, 2)
    entities = admin_sql(jobs, "SELECT org_id, name, yaml_content, updated_by FROM semantic_entities")
    assert {(e["org_id"], e["name"]) for e in entities} == {(jobs.org_a, "accounts"), (jobs.org_a, "contacts")}
    accounts = next(e for e in entities if e["name"] == "accounts")
    assert "aerospace" in accounts["yaml_content"] and "espionage" not in accounts["yaml_content"]
    assert accounts["updated_by"] == jobs.user("a", "admin").user_id
    upserts = admin_sql(jobs, "SELECT actor_user_id, detail FROM audit_log WHERE action = 'semantic_entity.upsert'"
                              " AND detail->>'jobId' = %s", (job["id"],))
    assert len(upserts) == 2 and {u["actor_user_id"] for u in upserts} == {jobs.user("a", "admin").user_id}


def _declare_accounts(jobs, org: str) -> None:
    r = jobs.user(org, "owner").put("/api/v1/admin/semantic/org/entities/accounts", json={"yamlContent": ACCOUNTS})
    assert r.status_code in (200, 201), r.get_json()


def test_a_scheduled_query_keeps_its_orgs_results_and_waits_for_its_next_time(jobs):
    _declare_accounts(jobs, "a")
    job = enqueue(jobs.user("a", "admin"), kind="scheduled_query", payload={"sql": NAMES}, schedule="0 6 * * *")
    assert job["runAfter"] > job["createdAt"]
    assert run_one(jobs) is False  # not due before its time
    admin_sql(jobs, "UPDATE jobs SET run_after = now() WHERE id = %s", (job["id"],))
    assert run_one(jobs)
    after = jobs.user("a", "member").get(f"{JOBS}/{job['id']}").get_json()
    assert (after["status"], after["attempts"], after["lastError"]) == ("queued", 0, None), after
    assert after["runAfter"] > after["updatedAt"] and after["result"]["rowCount"] == 2
    kept = jobs.user("a", "member").get(f"{JOBS}/{job['id']}/results").get_json()["data"]
    assert [r["result"]["rows"] for r in kept] == [[["Acme East"], ["Acme West"]]]
    ran = admin_sql(jobs, "SELECT actor_user_id FROM audit_log WHERE action = 'query.run' AND org_id = %s"
                          " AND detail->>'sql' = %s", (jobs.org_a, NAMES))
    assert ran and ran[-1]["actor_user_id"] == jobs.user("a", "admin").user_id
    admin_sql(jobs, "UPDATE job_results SET expires_at = now() WHERE job_id = %s", (job["id"],))
    assert jobs.user("a", "member").get(f"{JOBS}/{job['id']}/results").get_json()["data"] == []


def test_a_scheduled_query_naming_another_org_is_refused_and_gets_none_of_its_rows(jobs):
    """org_id is the gateway's to set (app/gateway/tenancy.py): the attempt is refused, not run."""
    _declare_accounts(jobs, "a")
    sql_text = f"SELECT name FROM accounts WHERE org_id = '{jobs.org_b}'"
    job = enqueue(jobs.user("a", "admin"), kind="scheduled_query", schedule="0 6 * * *", payload={"sql": sql_text})
    admin_sql(jobs, "UPDATE jobs SET run_after = now() WHERE id = %s", (job["id"],))
    assert run_one(jobs)
    dead = jobs.user("a", "admin").get(f"{JOBS}/{job['id']}").get_json()
    assert (dead["status"], dead["attempts"]) == ("dead", 1), dead
    assert "applied automatically" in dead["lastError"], dead
    assert jobs.user("a", "admin").get(f"{JOBS}/{job['id']}/results").get_json()["data"] == []
    refused = admin_sql(jobs, "SELECT count(*) AS n FROM audit_log WHERE org_id = %s AND action = 'query.refused'"
                              " AND detail->>'sql' = %s", (jobs.org_a, sql_text))
    assert refused[0]["n"] == 1


def test_a_scheduled_query_that_the_gateway_refuses_goes_to_the_dead_letter_at_once(jobs):
    _declare_accounts(jobs, "a")
    before = admin_sql(jobs, "SELECT org_id, name FROM accounts ORDER BY name")
    job = enqueue(jobs.user("a", "admin"), kind="scheduled_query", schedule="0 6 * * *",
                  payload={"sql": "DELETE FROM accounts"})
    admin_sql(jobs, "UPDATE jobs SET run_after = now() WHERE id = %s", (job["id"],))
    assert run_one(jobs)
    dead = jobs.user("a", "admin").get(f"{JOBS}/{job['id']}").get_json()
    assert (dead["status"], dead["attempts"]) == ("dead", 1), dead
    assert admin_sql(jobs, "SELECT count(*) AS n FROM job_results")[0]["n"] == 0
    assert admin_sql(jobs, "SELECT org_id, name FROM accounts ORDER BY name") == before


def test_cache_warm_up_answers_the_orgs_saved_queries_ahead_of_time(jobs):
    _declare_accounts(jobs, "a")
    admin = jobs.user("a", "admin")
    cache = services(jobs.app).cache
    assert cache is not None
    admin_sql(jobs, "DELETE FROM audit_log WHERE action = 'query.run'")  # earlier tests' queries
    assert admin.post("/api/v1/query", json={"sql": NAMES}).status_code == 200  # a recent query
    cache.flush_all()
    job = enqueue(admin, kind="warm_cache")
    assert run_one(jobs)
    done = admin.get(f"{JOBS}/{job['id']}").get_json()
    assert done["status"] == "succeeded" and done["result"]["warmed"] == 1, done
    assert admin.post("/api/v1/query", json={"sql": NAMES}).get_json()["cached"] is True
    assert cache.entries(str(jobs.org_b)) == 0


def test_platform_admins_see_queue_depth_per_org(jobs):
    enqueue(jobs.user("a", "admin"), kind="reprofile")
    enqueue(jobs.user("a", "admin"), kind="warm_cache")
    enqueue(jobs.user("b", "admin"), kind="reprofile")
    operator = jobs.user("b", "member")
    admin_sql(jobs, "UPDATE users SET platform_role = 'admin' WHERE id = %s", (operator.user_id,))
    try:
        listed = operator.get("/api/v1/admin/organizations").get_json()["data"]
        depth = {o["id"]: (o["jobsQueued"], o["jobsRunning"]) for o in listed}
        assert depth[str(jobs.org_a)] == (2, 0) and depth[str(jobs.org_b)] == (1, 0)
        stats = operator.get(f"/api/v1/admin/organizations/{jobs.org_a}/stats").get_json()
        assert (stats["jobsQueued"], stats["jobsRunning"], stats["jobsDead"]) == (2, 0, 0)
    finally:
        admin_sql(jobs, "UPDATE users SET platform_role = 'user' WHERE id = %s", (operator.user_id,))
    assert jobs.user("a", "owner").get("/api/v1/admin/organizations").status_code == 403
