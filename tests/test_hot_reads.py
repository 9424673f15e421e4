"""Hot reads (app/http/hot_reads.py): session and data in one round trip, refusing exactly as before.

Round trips are counted by wrapping app.db.wire._run, through which every one-round-trip
statement batch goes (each call is one pipeline behind one Sync); the wrapper calls
through, so the answers are the real ones.
"""
from __future__ import annotations

import uuid

import psycopg
import pytest

from app.db import wire
from tests.support import errors
from tests.support.api_module import org_snapshot


@pytest.fixture
def trips(monkeypatch):
    calls: list[int] = []
    real = wire._run

    def counted(conn, config, begin, settings, statements):  # type: ignore[no-untyped-def]
        calls.append(len(statements))
        return real(conn, config, begin, settings, statements)

    monkeypatch.setattr(wire, "_run", counted)
    return calls


def _contact(shared_orgs, org: str) -> str:
    r = shared_orgs.user(org, "member").post("/api/v1/contacts", json={"first_name": "Hot", "last_name": org})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def test_a_list_a_get_and_a_conversation_each_cost_one_round_trip(shared_orgs, trips):
    member = shared_orgs.user("a", "member")
    contact = _contact(shared_orgs, "a")
    conversation = member.post("/api/v1/conversations", json={"title": "hot"}).get_json()["id"]
    member.post(f"/api/v1/conversations/{conversation}/messages", json={"content": "hello"})
    for path, statements in (("/api/v1/contacts?limit=5", 2), (f"/api/v1/contacts/{contact}", 2),
                             ("/api/v1/conversations", 2), (f"/api/v1/conversations/{conversation}", 3)):
        trips.clear()
        r = member.get(path)
        assert r.status_code == 200, r.get_json()
        assert trips == [statements], path  # one pipeline: the session and the data
    assert r.get_json()["messages"][0]["content"] == "hello"


def test_a_create_costs_one_round_trip_for_the_session_the_row_and_its_audit(shared_orgs, trips):
    r = shared_orgs.user("a", "member").post("/api/v1/contacts", json={"first_name": "Once"})
    assert r.status_code == 201 and trips == [2]  # one round trip: the session, then the row and its audit row
    with psycopg.connect(shared_orgs.db.admin_url) as conn:
        logged = conn.execute("SELECT action, actor_user_id, changed_fields FROM audit_log WHERE entity_id = %s",
                              [r.get_json()["id"]]).fetchall()
    assert logged == [("contact.create", shared_orgs.user("a", "member").user_id, ["first_name"])]


def test_a_next_page_checks_its_cursor_against_the_session_first(shared_orgs, trips):
    member = shared_orgs.user("a", "member")
    for _ in range(3):
        _contact(shared_orgs, "a")
    first = member.get("/api/v1/contacts?limit=1").get_json()
    trips.clear()
    r = member.get(f"/api/v1/contacts?limit=1&cursor={first['nextCursor']}")
    assert r.status_code == 200 and r.get_json()["data"][0]["id"] != first["data"][0]["id"]
    assert trips == [1, 1]  # the session, then the page in the org the cursor was signed for
    other = shared_orgs.user("b", "member").get(f"/api/v1/contacts?limit=1&cursor={first['nextCursor']}")
    assert other.status_code == 400 and errors.error_code(other) == "validation_error"


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/api/v1/no-such-thing", 404),
                                                          ("GET", "/api/auth/sign-out", 405)])
def test_an_unrouted_request_with_a_session_answers_without_reading_it(shared_orgs, trips, method, path, status):
    r = shared_orgs.user("a", "member").raw(method, path)
    assert r.status_code == status and trips == []  # a scanner with a stolen cookie costs no round trip


@pytest.mark.parametrize("path", ["/api/v1/contacts?sort=nope", "/api/v1/contacts/not-a-uuid",
                                  "/api/v1/conversations?cursor=forged"])
def test_without_a_session_a_bad_argument_is_still_401(shared_orgs, path):
    r = shared_orgs.app.test_client().get(path)  # a client with no token and no cookie
    assert r.status_code == 401 and errors.error_code(r) == "unauthorized"


def test_a_forged_or_revoked_token_reads_nothing(shared_orgs):
    victim = shared_orgs.user("a", "member")
    contact = _contact(shared_orgs, "a")
    forged = victim.get("/api/v1/contacts", headers={"Authorization": f"Bearer {uuid.uuid4().hex}"})
    assert forged.status_code == 401 and "data" not in forged.get_json()
    got = victim.get(f"/api/v1/contacts/{contact}", headers={"Authorization": "Bearer x" * 3})
    assert got.status_code == 401 and contact not in got.get_data(as_text=True)


def test_a_member_of_one_org_cannot_read_another_orgs_row_by_id(shared_orgs):
    """The attack: org B's member asks for org A's row by its id, on both hot reads."""
    target = _contact(shared_orgs, "a")
    before = org_snapshot(shared_orgs.db.admin_url, shared_orgs.org("a"))
    attacker = shared_orgs.user("b", "owner")
    r = attacker.get(f"/api/v1/contacts/{target}")
    assert r.status_code == 404 and errors.error_code(r) == "not_found" and '"last_name"' not in r.get_data(as_text=True)
    page = attacker.get("/api/v1/contacts?limit=200").get_json()["data"]
    assert target not in {row["id"] for row in page}
    assert org_snapshot(shared_orgs.db.admin_url, shared_orgs.org("a")) == before


# ----- a create fused with its session: refused exactly as before, and nothing written -------------
def _written(shared_orgs, first_name: str) -> tuple[int, int]:
    """(contacts named first_name, audit rows of them) in every org."""
    with psycopg.connect(shared_orgs.db.admin_url) as conn:
        rows = conn.execute("SELECT count(*) FROM contacts WHERE first_name = %s", [first_name]).fetchone()
        logged = conn.execute("SELECT count(*) FROM audit_log a JOIN contacts c ON c.id::text = a.entity_id"
                              " WHERE c.first_name = %s", [first_name]).fetchone()
    return rows[0], logged[0]  # type: ignore[index]


def _newcomer(shared_orgs, slug: str):  # type: ignore[no-untyped-def]
    from tests.support.api import invite_and_join, sign_up

    user = sign_up(shared_orgs.app, f"{slug}@hot-writes.test")
    invite_and_join(shared_orgs.user("a", "owner"), user, "member")
    return user


def test_a_signed_out_session_creates_nothing(shared_orgs, trips):
    user = _newcomer(shared_orgs, "signed-out")
    assert user.post("/api/auth/sign-out").status_code == 200
    trips.clear()
    r = user.post("/api/v1/contacts", json={"first_name": "AfterSignOut"})
    assert r.status_code == 401 and errors.error_code(r) == "unauthorized"
    assert _written(shared_orgs, "AfterSignOut") == (0, 0)


def test_a_removed_member_creates_nothing_in_the_org_they_left(shared_orgs):
    user = _newcomer(shared_orgs, "removed")
    owner = shared_orgs.user("a", "owner")
    r = owner.post("/api/auth/organization/remove-member", json={"memberIdOrEmail": user.email})
    assert r.status_code == 200, r.get_json()
    r = user.post("/api/v1/contacts", json={"first_name": "AfterRemoval"})
    assert r.status_code == 403, r.get_json()
    assert _written(shared_orgs, "AfterRemoval") == (0, 0)


def test_without_a_session_a_bad_body_is_still_401(shared_orgs):
    r = shared_orgs.app.test_client().post("/api/v1/contacts", json={"first_name": "", "nope": 1})
    assert r.status_code == 401 and errors.error_code(r) == "unauthorized"


def test_a_fused_create_names_its_writer_and_org_from_the_session(shared_orgs, trips):
    member = shared_orgs.user("b", "member")
    r = member.post("/api/v1/contacts", json={"first_name": "FusedWriter"})
    assert r.status_code == 201 and trips == [2] and r.get_json()["org_id"] == str(shared_orgs.org("b"))
    with psycopg.connect(shared_orgs.db.admin_url) as conn:
        actor = conn.execute("SELECT org_id, actor_user_id FROM audit_log WHERE entity_id = %s",
                             [r.get_json()["id"]]).fetchall()
    assert actor == [(shared_orgs.org("b"), member.user_id)]


def test_a_body_naming_another_org_is_refused_before_any_write(shared_orgs):
    member = shared_orgs.user("a", "member")
    r = member.post("/api/v1/contacts", json={"first_name": "CrossOrg", "organizationId": str(shared_orgs.org("b"))})
    assert r.status_code == 403, r.get_json()
    assert _written(shared_orgs, "CrossOrg") == (0, 0)
