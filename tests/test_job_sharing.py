"""Saved (scheduled) queries shared with a team: the attacks, with the victim job unchanged.

The rule is the conversations' one (app/teams/sharing.py): a job without a team is the whole org's; one with a
team is listed, read, canceled, retried and its results read by the team's members, its creator and the org's
owners and admins; anyone else gets the 404 of a job that does not exist. Rows are seeded and checked as the
superuser (tests/support/jobs.py).
"""
from __future__ import annotations

import pytest

from tests.support.api import create_team, invite_and_join, sign_up
from tests.support.jobs import admin_sql, audit_actions, clear_jobs, job_row, jobs_world

JOBS = "/api/v1/jobs"
ORG = "/api/auth/organization"
QUERY = {"kind": "scheduled_query", "payload": {"sql": "SELECT 1 AS one"}, "schedule": "0 6 * * *"}


@pytest.fixture(scope="module")
def world(db_factory, tmp_path_factory):
    with jobs_world(db_factory, str(tmp_path_factory.mktemp("semantic"))) as world:
        for name in ("outsider", "scheduler"):
            user = sign_up(world.app, f"{name}@acme.test")
            invite_and_join(world.user("a", "owner"), user, "member")
            world.users[("a", name)] = user
        owner = world.user("a", "owner")
        r = owner.post(f"{ORG}/create-role", json={"role": "scheduler",
                                                   "permission": {"job": ["create", "read", "update"]}})
        assert r.status_code == 200, r.get_json()
        r = owner.post(f"{ORG}/update-member-role", json={"memberId": str(world.user("a", "scheduler").member_id),
                                                          "role": "scheduler"})
        assert r.status_code == 200, r.get_json()
        yield world


@pytest.fixture
def jobs(world):
    clear_jobs(world)
    return world


def _sees(user, job_id):
    """Listed, read and its results read together, or none of the three."""
    listed = {j["id"] for j in user.get(JOBS, query_string={"limit": 100}).get_json()["data"]}
    status = user.get(f"{JOBS}/{job_id}").status_code
    results = user.get(f"{JOBS}/{job_id}/results").status_code
    assert (status == 200) == (job_id in listed) == (results == 200), (status, results, listed)
    return status == 200


def test_a_team_query_is_seen_changed_and_its_results_read_only_by_its_team_creator_and_managers(jobs):
    member, outsider = jobs.user("a", "member"), jobs.user("a", "outsider")
    admin, owner = jobs.user("a", "admin"), jobs.user("a", "owner")
    team = create_team(jobs.user("a", "admin"), "Finance", member)
    r = admin.post(JOBS, json={**QUERY, "teamId": team["id"]})
    assert r.status_code == 201 and r.get_json()["teamId"] == team["id"], r.get_json()
    shared = r.get_json()["id"]
    everyone = admin.post(JOBS, json=QUERY).get_json()["id"]
    admin_sql(jobs, "INSERT INTO job_results (org_id, job_id, expires_at, result) VALUES (%s, %s,"
                    " now() + interval '1 hour', '{\"rows\": [[\"secret\"]]}')", (jobs.org_a, shared))

    assert _sees(member, shared) and _sees(admin, shared) and _sees(owner, shared)
    assert member.get(f"{JOBS}/{shared}/results").get_json()["data"][0]["result"]["rows"] == [["secret"]]
    assert not _sees(outsider, shared) and _sees(outsider, everyone)

    # the scheduler may cancel, retry and share the org's jobs (`job` update) but is not in the team
    scheduler = jobs.user("a", "scheduler")
    assert not _sees(scheduler, shared) and _sees(scheduler, everyone)
    before = job_row(jobs, shared)
    assert scheduler.post(f"{JOBS}/{shared}/cancel").status_code == 404  # as a queued job it would be cancelable
    assert scheduler.post(f"{JOBS}/{shared}/team", json={"teamId": None}).status_code == 404  # widening it
    assert job_row(jobs, shared) == before
    admin_sql(jobs, "UPDATE jobs SET status = 'dead', finished_at = now() WHERE id = %s", (shared,))
    dead = job_row(jobs, shared)
    assert scheduler.post(f"{JOBS}/{shared}/retry").status_code == 404  # as a dead job it would be retried
    assert job_row(jobs, shared) == dead
    assert [a["action"] for a in audit_actions(jobs, shared)] == ["job.enqueue"]
    assert member.post(f"{JOBS}/{shared}/retry").status_code == 403  # the team reads; `job` update is admins'

    # removing the team narrows its queries to their creator and the managers, never widens them
    jobs.user("a", "admin").post(f"{ORG}/add-team-member", json={"teamId": team["id"],
                                                                  "userId": str(outsider.user_id)})
    assert _sees(outsider, shared)
    assert admin.post(f"{ORG}/remove-team", json={"teamId": team["id"]}).status_code == 200
    assert not _sees(outsider, shared) and not _sees(member, shared)
    assert _sees(admin, shared) and _sees(owner, shared)
    assert job_row(jobs, shared)["team_id"] is not None


def test_another_orgs_team_is_refused_and_nothing_is_queued_or_changed(jobs):
    team = create_team(jobs.user("a", "admin"), "Acme Only", jobs.user("a", "member"))
    owner_b = jobs.user("b", "owner")
    r = owner_b.post(JOBS, json={**QUERY, "teamId": team["id"]})
    assert r.status_code == 404, r.get_json()
    assert admin_sql(jobs, "SELECT count(*) AS n FROM jobs")[0]["n"] == 0
    theirs = owner_b.post(JOBS, json=QUERY).get_json()["id"]
    assert owner_b.post(f"{JOBS}/{theirs}/team", json={"teamId": team["id"]}).status_code == 404
    assert job_row(jobs, theirs)["team_id"] is None
    # and org A's team query is as unknown to org B as any of A's jobs
    victim = jobs.user("a", "admin").post(JOBS, json={**QUERY, "teamId": team["id"]}).get_json()["id"]
    before = job_row(jobs, victim)
    for path in ("", "/results"):
        assert owner_b.get(f"{JOBS}/{victim}{path}").status_code == 404
    for path in ("/cancel", "/retry"):
        assert owner_b.post(f"{JOBS}/{victim}{path}").status_code == 404
    assert owner_b.post(f"{JOBS}/{victim}/team", json={"teamId": None}).status_code == 404
    assert job_row(jobs, victim) == before


def test_a_member_cannot_share_into_a_team_they_are_not_in_nor_reshare_anothers_query(jobs):
    scheduler, admin = jobs.user("a", "scheduler"), jobs.user("a", "admin")
    theirs = create_team(jobs.user("a", "admin"), "Theirs", jobs.user("a", "member"))
    mine = create_team(jobs.user("a", "admin"), "Mine", scheduler)
    r = scheduler.post(JOBS, json={**QUERY, "teamId": theirs["id"]})
    assert r.status_code == 403, r.get_json()
    assert admin_sql(jobs, "SELECT count(*) AS n FROM jobs")[0]["n"] == 0
    own = scheduler.post(JOBS, json={**QUERY, "teamId": mine["id"]})
    assert own.status_code == 201, own.get_json()
    own_id = own.get_json()["id"]
    assert scheduler.post(f"{JOBS}/{own_id}/team", json={"teamId": theirs["id"]}).status_code == 403
    assert str(job_row(jobs, own_id)["team_id"]) == own.get_json()["teamId"] == mine["id"]

    victim = admin.post(JOBS, json=QUERY).get_json()["id"]  # the whole org's, so visible to the scheduler
    before = job_row(jobs, victim)
    assert scheduler.post(f"{JOBS}/{victim}/team", json={"teamId": mine["id"]}).status_code == 403  # not its creator
    assert job_row(jobs, victim) == before

    r = scheduler.post(f"{JOBS}/{own_id}/team", json={"teamId": None})  # its creator widens it to the org
    assert r.status_code == 200 and r.get_json()["teamId"] is None, r.get_json()
    r = admin.post(f"{JOBS}/{own_id}/team", json={"teamId": theirs["id"]})  # a manager shares it with any team
    assert r.status_code == 200 and r.get_json()["teamId"] == theirs["id"], r.get_json()
    assert scheduler.get(f"{JOBS}/{own_id}").status_code == 200  # its creator still reads it
    shares = [a for a in audit_actions(jobs, own_id) if a["action"] == "job.share"]
    assert [(s["detail"]["from"], s["detail"]["to"]) for s in shares] == [(mine["id"], None), (None, theirs["id"])]
    assert admin.post(f"{JOBS}/{own_id}/team", json={"teamId": "not-a-uuid"}).status_code == 400
