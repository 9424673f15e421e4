"""GET /api/v1/admin/audit: admins and owners read their org's trail, filtered and paged; nobody else's."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from tests.support.api_module import audit_rows
from tests.support.errors import error_of


def walk(user, **query) -> list[dict]:  # type: ignore[no-untyped-def]
    """Every entry the listing yields for `query`, following nextCursor."""
    seen, cursor = [], None
    while True:
        r = user.get("/api/v1/admin/audit", query_string={**query, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.get_json()
        seen += r.get_json()["data"]
        cursor = r.get_json()["nextCursor"]
        if cursor is None:
            return seen


@pytest.fixture(scope="module")
def mutations(shared_orgs) -> dict:
    """A member of A creates and edits a contact; a member of B does the same in B."""
    a, b = shared_orgs.user("a", "member"), shared_orgs.user("b", "member")
    contact = a.post("/api/v1/contacts", json={"first_name": "Ann"}, headers={"X-Request-Id": "aud-create"}).get_json()
    a.patch(f"/api/v1/contacts/{contact['id']}", json={"title": "CTO", "phone": "555"},
            headers={"X-Request-Id": "aud-update"})
    theirs = b.post("/api/v1/contacts", json={"first_name": "Bea"}, headers={"X-Request-Id": "aud-b"}).get_json()
    a.post("/api/v1/contacts", json={"first_name": "X", "orgId": str(shared_orgs.org_b)},
           headers={"X-Request-Id": "aud-refused"})
    return {"contact": contact, "theirs": theirs}


@pytest.mark.parametrize("role, status", [("member", 403), ("admin", 200), ("owner", 200)])
def test_only_admins_and_owners_read_the_trail(shared_orgs, role, status):
    r = shared_orgs.user("a", role).get("/api/v1/admin/audit")
    assert r.status_code == status
    if status == 403:
        assert error_of(r)["code"] == "forbidden"


def test_entries_show_actor_action_entity_id_fields_and_request_id(shared_orgs, mutations):
    member = shared_orgs.user("a", "member")
    entries = walk(shared_orgs.user("a", "admin"), entity="contact", actor=str(member.user_id))
    by_request = {e["request_id"]: e for e in entries}
    created, updated = by_request["aud-create"], by_request["aud-update"]
    assert (created["action"], created["entity"], created["entity_id"], created["actor_user_id"],
            created["changed_fields"], created["outcome"]) == (
        "contact.create", "contact", mutations["contact"]["id"], str(member.user_id), ["first_name"], "ok")
    assert (updated["action"], updated["entity_id"], updated["changed_fields"]) == (
        "contact.update", mutations["contact"]["id"], ["phone", "title"])
    assert dt.datetime.fromisoformat(updated["occurred_at"]) >= dt.datetime.fromisoformat(created["occurred_at"])


def test_a_refused_cross_org_attempt_is_listed(shared_orgs, mutations):
    [refused] = walk(shared_orgs.user("a", "owner"), outcome="refused", action="cross_org.refused")
    assert (refused["request_id"], refused["actor_user_id"]) == ("aud-refused", str(shared_orgs.user("a", "member").user_id))
    assert refused["detail"]["named_org"] == str(shared_orgs.org_b)


def test_the_trail_is_the_orgs_own_and_all_of_it(shared_orgs, mutations):
    listed = walk(shared_orgs.user("a", "owner"), limit=3)
    stored = audit_rows(shared_orgs.db.admin_url, shared_orgs.org_a)
    assert sorted(e["id"] for e in listed) == sorted(str(e["id"]) for e in stored)
    assert "aud-b" not in {e["request_id"] for e in listed}
    assert mutations["theirs"]["id"] not in {e["entity_id"] for e in listed}
    assert "aud-b" in {e["request_id"] for e in walk(shared_orgs.user("b", "owner"))}


def test_pages_are_newest_first_without_gaps_or_repeats(shared_orgs, mutations):
    listed = walk(shared_orgs.user("a", "owner"), limit=2)
    ids = [e["id"] for e in listed]
    assert len(ids) == len(set(ids)) > 4
    times = [dt.datetime.fromisoformat(e["occurred_at"]) for e in listed]
    assert times == sorted(times, reverse=True)


def test_filters_by_action_entity_actor_and_time(shared_orgs, mutations):
    owner, member = shared_orgs.user("a", "owner"), shared_orgs.user("a", "member")
    assert {e["request_id"] for e in walk(owner, action="contact.update")} == {"aud-update"}
    assert {e["entity"] for e in walk(owner, entity="member")} == {"member"}
    assert {e["actor_user_id"] for e in walk(owner, actor=str(member.user_id))} == {str(member.user_id)}
    assert walk(owner, actor=str(uuid.uuid4())) == []
    created_at = next(e for e in walk(owner, action="contact.create") if e["request_id"] == "aud-create")["occurred_at"]
    after = {e["request_id"] for e in walk(owner, entity="contact", since=created_at)}
    before = {e["request_id"] for e in walk(owner, entity="contact", until=created_at)}
    assert {"aud-create", "aud-update"} <= after and "aud-create" not in before
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date().isoformat()
    assert walk(owner, since=future) == []


@pytest.mark.parametrize("query, field", [
    ({"actor": "bob"}, "actor"), ({"since": "yesterday"}, "since"), ({"until": "2026-13-01"}, "until"),
    ({"limit": 500}, "limit"), ({"cursor": "%%%"}, "cursor"), ({"who": "me"}, "who"),
])
def test_bad_filters_are_400_naming_the_parameter(shared_orgs, query, field):
    r = shared_orgs.user("a", "admin").get("/api/v1/admin/audit", query_string=query)
    assert r.status_code == 400 and field in error_of(r)["fields"]
