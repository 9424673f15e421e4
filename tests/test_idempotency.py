"""Idempotency-Key: a retried creating request takes effect once and answers what the first answered."""
from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg
import pytest

from tests.support.api import ApiUser, TwoOrgs
from tests.support.api_module import audit_rows
from tests.support.errors import error_of


def _key() -> str:
    return f"k-{uuid.uuid4()}"


def _keyed(user: ApiUser, path: str, body: Any, key: str, client: Any = None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {user.token}", "Idempotency-Key": key}
    return (client or user.client).post(path, json=body, headers=headers)


def _count(admin_url: str, query: str, params: tuple) -> int:
    with psycopg.connect(admin_url) as conn:
        return conn.execute(query, params).fetchone()[0]  # type: ignore[index]


def test_a_retry_with_the_same_key_returns_the_first_response_and_writes_once(shared_orgs: TwoOrgs) -> None:
    user, key = shared_orgs.user("a", "member"), _key()
    body = {"first_name": "Ada", "email": f"{uuid.uuid4().hex[:8]}@example.test"}
    first = _keyed(user, "/api/v1/contacts", body, key)
    again = _keyed(user, "/api/v1/contacts", dict(reversed(body.items())), key)  # same body, other key order
    assert first.status_code == 201, first.get_json()
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    contact_id = first.get_json()["id"]
    db = shared_orgs.db.admin_url
    assert _count(db, "SELECT count(*) FROM contacts WHERE email = %s", (body["email"],)) == 1
    assert len(audit_rows(db, shared_orgs.org_a, action="contact.create", entity_id=contact_id)) == 1


def test_the_key_commits_in_the_same_transaction_as_the_write(shared_orgs: TwoOrgs) -> None:
    """A write whose key cannot be recorded is not committed either: the two are one transaction.

    So a write that committed always has its key, and a retry after a lost response finds it.
    """
    user, key = shared_orgs.user("a", "member"), _key()
    db = shared_orgs.db.admin_url
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("CREATE FUNCTION pg_temp.refuse() RETURNS trigger LANGUAGE plpgsql AS"
                     " $$BEGIN RAISE EXCEPTION 'no keys today' USING ERRCODE = 'check_violation'; END$$")
        conn.execute("CREATE TRIGGER refuse_keys BEFORE INSERT ON idempotency_keys"
                     " FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse()")
        try:
            r = _keyed(user, "/api/v1/contacts", {"first_name": "Unkeyable"}, key)
        finally:
            conn.execute("DROP TRIGGER refuse_keys ON idempotency_keys")
    assert r.status_code == 400, r.get_json()
    assert _count(db, "SELECT count(*) FROM contacts WHERE first_name = 'Unkeyable'", ()) == 0
    assert _keyed(user, "/api/v1/contacts", {"first_name": "Unkeyable"}, key).status_code == 201


def test_the_same_key_with_another_body_is_refused_and_writes_nothing(shared_orgs: TwoOrgs) -> None:
    user, key = shared_orgs.user("a", "member"), _key()
    assert _keyed(user, "/api/v1/contacts", {"first_name": "One"}, key).status_code == 201
    r = _keyed(user, "/api/v1/contacts", {"first_name": "Two"}, key)
    assert r.status_code == 422 and error_of(r)["code"] == "idempotency_key_reused"
    r = _keyed(user, "/api/v1/accounts", {"name": "Other path"}, key)
    assert r.status_code == 422 and error_of(r)["code"] == "idempotency_key_reused"
    db = shared_orgs.db.admin_url
    assert _count(db, "SELECT count(*) FROM contacts WHERE first_name = 'Two'", ()) == 0
    assert _count(db, "SELECT count(*) FROM accounts WHERE name = 'Other path'", ()) == 0


def test_keys_belong_to_their_org_and_actor(shared_orgs: TwoOrgs) -> None:
    key, body = _key(), {"first_name": "Shared key"}
    answers = [_keyed(shared_orgs.user(org, role), "/api/v1/contacts", body, key)
               for org, role in (("a", "member"), ("a", "admin"), ("b", "member"))]
    assert [r.status_code for r in answers] == [201, 201, 201]
    assert len({r.get_json()["id"] for r in answers}) == 3
    assert not any("Idempotent-Replayed" in r.headers for r in answers)


def test_a_failed_request_stores_nothing_and_its_retry_runs_afresh(shared_orgs: TwoOrgs) -> None:
    user, key = shared_orgs.user("a", "member"), _key()
    r = _keyed(user, "/api/v1/contacts", {"first_name": "x" * 100_000}, key)
    assert r.status_code == 400
    assert _count(shared_orgs.db.admin_url, "SELECT count(*) FROM idempotency_keys WHERE idempotency_key = %s",
                  (key,)) == 0
    assert _keyed(user, "/api/v1/contacts", {"first_name": "fixed"}, key).status_code == 201


def test_a_malformed_key_is_a_400(shared_orgs: TwoOrgs) -> None:
    user = shared_orgs.user("a", "member")
    for key in ("", "has space", "x" * 256, "caf\u00e9"):
        headers = {"Authorization": f"Bearer {user.token}", "Idempotency-Key": key.encode().decode("latin-1")}
        r = user.client.post("/api/v1/contacts", json={"first_name": "K"}, headers=headers)
        assert r.status_code == 400, (key, r.get_json())
        assert "Idempotency-Key" in error_of(r)["fields"]


def test_a_duplicate_while_the_first_is_in_flight_answers_409(shared_orgs: TwoOrgs) -> None:
    """The first request is held inside its transaction (its INSERT waits on a table lock we hold)."""
    user, key, app = shared_orgs.user("a", "member"), _key(), shared_orgs.app
    body = {"first_name": "In flight"}
    results: list[Any] = []
    with psycopg.connect(shared_orgs.db.admin_url) as blocker:
        blocker.execute("LOCK TABLE contacts IN EXCLUSIVE MODE")
        first = threading.Thread(target=lambda: results.append(
            _keyed(user, "/api/v1/contacts", body, key, client=app.test_client())))
        first.start()
        _wait_for_lock_waiter(shared_orgs.db.admin_url)
        duplicate = _keyed(user, "/api/v1/contacts", body, key, client=app.test_client())
        assert duplicate.status_code == 409, duplicate.get_json()
        assert error_of(duplicate)["code"] == "idempotency_in_flight"
        assert duplicate.headers["Retry-After"] == "1"
        blocker.rollback()  # releases the table lock: the first request finishes
        first.join(timeout=30)
    assert results and results[0].status_code == 201
    replay = _keyed(user, "/api/v1/contacts", body, key)
    assert replay.status_code == 201 and replay.get_json() == results[0].get_json()
    assert _count(shared_orgs.db.admin_url, "SELECT count(*) FROM contacts WHERE first_name = %s",
                  (body["first_name"],)) == 1


def _wait_for_lock_waiter(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for _ in range(300):
            if conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0]:  # type: ignore[index]
                return
            threading.Event().wait(0.02)
    raise AssertionError("the first request never reached its INSERT")


@pytest.mark.parametrize("path,body", [
    ("/api/v1/conversations", {"title": "Keyed"}),
    ("/api/auth/organization/invite-member", {"email": "keyed-invitee@example.test", "role": "member"}),
])
def test_other_creating_calls_replay_too(shared_orgs: TwoOrgs, path: str, body: dict) -> None:
    user, key = shared_orgs.user("a", "owner"), _key()
    first, again = (_keyed(user, path, body, key) for _ in range(2))
    assert first.status_code in (200, 201), first.get_json()
    assert (again.status_code, again.get_json()) == (first.status_code, first.get_json())
    assert again.headers["Idempotent-Replayed"] == "true"


def test_a_message_is_appended_once(shared_orgs: TwoOrgs) -> None:
    user = shared_orgs.user("a", "member")
    conversation = user.post("/api/v1/conversations", json={}).get_json()["id"]
    path, key = f"/api/v1/conversations/{conversation}/messages", _key()
    assert [_keyed(user, path, {"content": "hello"}, key).status_code for _ in range(3)] == [201, 201, 201]
    assert len(user.get(f"/api/v1/conversations/{conversation}").get_json()["messages"]) == 1


def test_org_create_with_a_key_creates_one_org(shared_orgs: TwoOrgs) -> None:
    user, key = shared_orgs.user("b", "member"), _key()
    body = {"name": "Keyed Org", "slug": f"keyed-{uuid.uuid4().hex[:8]}"}
    first, again = (_keyed(user, "/api/auth/organization/create", body, key) for _ in range(2))
    assert first.status_code == 200, first.get_json()
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert _count(shared_orgs.db.admin_url, "SELECT count(*) FROM organizations WHERE slug = %s",
                  (body["slug"],)) == 1


def test_expired_keys_are_forgotten_and_deleted(shared_orgs: TwoOrgs) -> None:
    user, old, new = shared_orgs.user("a", "member"), _key(), _key()
    db = shared_orgs.db.admin_url
    first = _keyed(user, "/api/v1/contacts", {"first_name": "Expiring"}, old)
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'"
                      " WHERE idempotency_key = %s", (old,))
    assert _keyed(user, "/api/v1/contacts", {"first_name": "Fresh"}, new).status_code == 201
    assert _count(db, "SELECT count(*) FROM idempotency_keys WHERE idempotency_key = %s", (old,)) == 0
    again = _keyed(user, "/api/v1/contacts", {"first_name": "Expiring"}, old)
    assert again.status_code == 201 and again.get_json()["id"] != first.get_json()["id"]
