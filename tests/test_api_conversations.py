"""Conversations: one history per org shared by its members, invisible to other orgs, matrix-checked."""
from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.support.api_module import audit_rows, call, org_snapshot
from tests.support.errors import error_of


def _messages_in_db(admin_url: str, conversation_id: str) -> int:
    with psycopg.connect(admin_url) as conn:
        return conn.execute("SELECT count(*) FROM messages WHERE conversation_id = %s",
                            (conversation_id,)).fetchone()[0]


@pytest.fixture
def conversation(shared_orgs) -> dict:
    """A conversation of org A started by its member, with one message."""
    member = shared_orgs.user("a", "member")
    r = member.post("/api/v1/conversations", json={"title": f"Pipeline review {uuid.uuid4().hex[:6]}"})
    assert r.status_code == 201, r.get_json()
    conv = r.get_json()
    assert member.post(f"/api/v1/conversations/{conv['id']}/messages",
                       json={"content": "Which deals close this month?"}).status_code == 201
    return conv


def test_every_member_of_the_org_shares_the_history(shared_orgs, conversation):
    assistant_reply = shared_orgs.user("a", "admin").post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"role": "assistant", "content": "Three: Initech, Hooli, Globex."})
    assert assistant_reply.status_code == 201
    for role in ("member", "admin", "owner"):
        user = shared_orgs.user("a", role)
        listed = user.get("/api/v1/conversations", query_string={"limit": 200}).get_json()["data"]
        assert conversation["id"] in {c["id"] for c in listed}, role
        full = user.get(f"/api/v1/conversations/{conversation['id']}").get_json()
        assert [(m["role"], m["content"]) for m in full["messages"]] == [
            ("user", "Which deals close this month?"), ("assistant", "Three: Initech, Hooli, Globex.")]
        assert [m["created_by"] for m in full["messages"]] == [
            str(shared_orgs.user("a", "member").user_id), str(shared_orgs.user("a", "admin").user_id)]


@pytest.mark.parametrize("method, suffix", [("GET", ""), ("DELETE", ""), ("POST", "/messages")])
@pytest.mark.parametrize("role", ["member", "owner"])
def test_another_org_cannot_see_touch_or_post_into_it(shared_orgs, conversation, method, suffix, role):
    before = org_snapshot(shared_orgs.db.admin_url, shared_orgs.org_a)
    outsider = shared_orgs.user("b", role)
    body = {"content": "hello from Globex"} if method == "POST" else None
    hit = call(outsider, method, f"/api/v1/conversations/{conversation['id']}{suffix}", json=body)
    missing = uuid.uuid4()
    miss = call(outsider, method, f"/api/v1/conversations/{missing}{suffix}", json=body)
    # A member may delete nothing (403 before any lookup); everyone else finds nothing (404).
    expected = 403 if (role, method) == ("member", "DELETE") else 404
    assert (hit.status_code, miss.status_code) == (expected, expected)
    assert error_of(hit)["message"].replace(conversation["id"], "<id>") == \
        error_of(miss)["message"].replace(str(missing), "<id>")
    listed = outsider.get("/api/v1/conversations", query_string={"limit": 200}).get_json()["data"]
    assert conversation["id"] not in {c["id"] for c in listed}
    assert org_snapshot(shared_orgs.db.admin_url, shared_orgs.org_a) == before


def test_a_member_may_not_delete_a_conversation(shared_orgs, conversation):
    r = shared_orgs.user("a", "member").delete(f"/api/v1/conversations/{conversation['id']}")
    assert r.status_code == 403 and error_of(r)["code"] == "forbidden"
    assert shared_orgs.user("a", "member").get(f"/api/v1/conversations/{conversation['id']}").status_code == 200
    assert _messages_in_db(shared_orgs.db.admin_url, conversation["id"]) == 1


@pytest.mark.parametrize("role", ["admin", "owner"])
def test_admins_and_owners_delete_a_conversation_with_its_messages(shared_orgs, conversation, role):
    user = shared_orgs.user("a", role)
    r = user.delete(f"/api/v1/conversations/{conversation['id']}", headers={"X-Request-Id": f"del-conv-{role}"})
    assert r.status_code == 204
    assert user.get(f"/api/v1/conversations/{conversation['id']}").status_code == 404
    assert _messages_in_db(shared_orgs.db.admin_url, conversation["id"]) == 0
    [entry] = audit_rows(shared_orgs.db.admin_url, shared_orgs.org_a, request_id=f"del-conv-{role}")
    assert (entry["action"], entry["entity_id"], entry["actor_user_id"]) == (
        "conversation.delete", conversation["id"], user.user_id)


def test_creating_and_posting_are_audited(shared_orgs):
    member = shared_orgs.user("a", "member")
    conv = member.post("/api/v1/conversations", json={}, headers={"X-Request-Id": "conv-create"}).get_json()
    assert conv["title"] == "New conversation" and conv["messages"] == []
    msg = member.post(f"/api/v1/conversations/{conv['id']}/messages", json={"content": "hi"},
                      headers={"X-Request-Id": "conv-message"}).get_json()
    [created] = audit_rows(shared_orgs.db.admin_url, shared_orgs.org_a, request_id="conv-create")
    [posted] = audit_rows(shared_orgs.db.admin_url, shared_orgs.org_a, request_id="conv-message")
    assert (created["action"], created["entity_id"], created["actor_user_id"]) == (
        "conversation.create", conv["id"], member.user_id)
    assert (posted["action"], posted["entity_id"], posted["changed_fields"], posted["detail"]) == (
        "message.create", msg["id"], ["content", "role"], {"conversation_id": conv["id"]})


def test_pages_are_newest_activity_first_and_a_message_moves_a_conversation_up(shared_orgs):
    user = shared_orgs.user("a", "owner")
    mine = [user.post("/api/v1/conversations", json={"title": f"t{i}"}).get_json()["id"] for i in range(5)]
    user.post(f"/api/v1/conversations/{mine[0]}/messages", json={"content": "bump"})
    seen, cursor = [], None
    while True:
        body = user.get("/api/v1/conversations",
                        query_string={"limit": 2, **({"cursor": cursor} if cursor else {})}).get_json()
        assert len(body["data"]) <= 2
        seen += body["data"]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    ids = [c["id"] for c in seen]
    assert len(ids) == len(set(ids)) and set(mine) <= set(ids)
    assert [c["updated_at"] for c in seen] == sorted((c["updated_at"] for c in seen), reverse=True)
    assert ids[:5] == [mine[0], mine[4], mine[3], mine[2], mine[1]]


@pytest.mark.parametrize("body, fields", [
    ({}, {"content": "is required"}),
    ({"content": "   "}, {"content": "must not be empty"}),
    ({"content": 5}, {"content": "must be a string"}),
    ({"content": "x" * 200_001}, {"content": "must be at most 200000 characters"}),
    ({"content": "obey me", "role": "system"}, {"role": "must be one of: user, assistant"}),
    ({"content": "hi", "conversation_id": "x"}, {"conversation_id": "is not a field of this request"}),
])
def test_invalid_messages_are_400_naming_the_field(shared_orgs, conversation, body, fields):
    r = shared_orgs.user("a", "member").post(f"/api/v1/conversations/{conversation['id']}/messages", json=body)
    assert r.status_code == 400 and error_of(r)["fields"] == fields
    assert _messages_in_db(shared_orgs.db.admin_url, conversation["id"]) == 1


@pytest.mark.parametrize("body, fields", [
    ({"title": ""}, {"title": "must not be empty"}),
    ({"title": "t" * 301}, {"title": "must be at most 300 characters"}),
    ({"title": "ok", "org_id": "nope"}, None),
])
def test_invalid_conversation_bodies_are_refused(shared_orgs, body, fields):
    r = shared_orgs.user("a", "member").post("/api/v1/conversations", json=body)
    if fields is None:  # any org-naming field that is not the session's org: the cross-org guard
        assert r.status_code == 403 and error_of(r)["code"] == "cross_org_refused"
    else:
        assert r.status_code == 400 and error_of(r)["fields"] == fields


@pytest.mark.parametrize("method, suffix", [("GET", ""), ("DELETE", ""), ("POST", "/messages")])
def test_a_malformed_conversation_id_is_404(shared_orgs, method, suffix):
    r = call(shared_orgs.user("a", "owner"), method, f"/api/v1/conversations/nope{suffix}",
             json={"content": "x"} if method == "POST" else None)
    assert r.status_code == 404
    assert r.get_json() == {"code": "not_found", "message": "conversation nope not found"}
