"""The analytics agent end to end against a scripted OpenAI-compatible server: a question becomes tool calls
through the MCP tools' code, SQL through the gateway, rows and an answer in the org's conversation, streamed
as server-sent events; budgets, usage and the no-provider case."""
from __future__ import annotations

import logging
import threading

import psycopg
import pytest

from app.http.context import services
from tests.support.agent_world import ALPHA_LAYER, API_KEY, agent_world, ask, parse_sse
from tests.support.api import anonymous, make_app, two_org_world
from tests.support.api import close_app as close
from tests.support.model_server import call, say, scripted_model

COUNT_SQL = "SELECT lifecycle_stage, count(*) AS contacts FROM contacts GROUP BY 1 ORDER BY 2 DESC, 1"


@pytest.fixture(scope="module")
def world(db_factory, tmp_path_factory):
    with agent_world(db_factory, str(tmp_path_factory.mktemp("semantic"))) as world:
        yield world


def _names(events):
    return [name for name, _ in events]


def test_a_question_becomes_sql_rows_a_chart_and_an_answer_in_the_conversation(world):
    world.model.play([call("listEntities"), call("executeSQL", sql=COUNT_SQL), say("Most contacts are leads.")])
    conversation, events = ask(world, "How many contacts per lifecycle stage?")
    assert _names(events) == ["started", "step", "tool", "step", "tool", "rows", "step", "answer"]
    answer = events[-1][1]
    assert answer["text"] == "Most contacts are leads."
    assert answer["sql"] == COUNT_SQL
    assert answer["rows"] == [["lead", 3], ["customer", 1]]
    assert answer["chart"] == {"type": "bar", "label": "lifecycle_stage", "value": "contacts"}
    # The model was offered exactly the MCP tools, and read the org's own layer in its system prompt.
    first = world.model.received[0]
    assert {t["function"]["name"] for t in first["tools"]} == {"explore", "listEntities", "describeEntity",
                                                               "executeSQL"}
    assert ALPHA_LAYER in first["messages"][0]["content"]
    stored = world.user("a", "admin").get(f"/api/v1/conversations/{conversation}").get_json()["messages"]
    assert [m["role"] for m in stored] == ["user", "tool", "tool", "assistant"]
    assert COUNT_SQL in stored[2]["content"] and stored[-1]["content"] == "Most contacts are leads."
    # The query went through the query service: audited as a run query of the asking member.
    with psycopg.connect(world.orgs.db.admin_url) as conn:
        actor = conn.execute("SELECT actor_user_id FROM audit_log WHERE org_id = %s AND action = 'query.run'"
                             " AND detail->>'sql' = %s", (world.orgs.org_a, COUNT_SQL)).fetchone()
    assert actor == (world.user("a", "member").user_id,)


def test_a_follow_up_question_sees_the_earlier_turns_of_its_conversation(world):
    world.model.play([say("Four contacts.")])
    conversation, _ = ask(world, "How many contacts are there?")
    world.model.play([say("Still four.")])
    ask(world, "And now?", conversation=conversation)
    roles = [(m["role"], m["content"]) for m in world.model.received[0]["messages"][1:]]
    assert roles == [("user", "How many contacts are there?"), ("assistant", "Four contacts."), ("user", "And now?")]


def test_the_model_server_gets_the_key_and_nothing_else_ever_shows_it(world, caplog):
    caplog.set_level(logging.DEBUG)
    world.model.play([{"status": 401, "content": f"Incorrect API key provided: {API_KEY}"}])
    conversation, events = ask(world, "Anything?")
    assert events[-1][0] == "error" and events[-1][1]["code"] == "agent_provider_error"
    assert "401" in events[-1][1]["message"] and API_KEY not in events[-1][1]["message"]
    assert world.model.authorizations == [f"Bearer {API_KEY}"]
    stored = world.user("a").get(f"/api/v1/conversations/{conversation}").get_data(as_text=True)
    assert API_KEY not in stored and API_KEY not in caplog.text
    assert API_KEY not in repr(services(world.orgs.app).settings)


def test_org_admins_read_their_usage_members_do_not_and_platform_admins_read_any_org(world):
    world.model.play([call("executeSQL", sql=COUNT_SQL), say("done")])
    ask(world, "usage please")
    body = world.user("a", "admin").get("/api/v1/admin/agent/usage").get_json()
    today = body["data"][0]
    assert today["asks"] >= 1 and today["steps"] >= 2 and today["queries"] >= 1 and today["tokens"] > 0
    assert body["tokensToday"] == today["tokens"] and body["organizationId"] == str(world.orgs.org_a)
    assert world.user("a", "member").get("/api/v1/admin/agent/usage").status_code == 403
    b_usage = world.user("b", "admin").get("/api/v1/admin/agent/usage").get_json()
    assert b_usage["organizationId"] == str(world.orgs.org_b)
    assert sum(d["asks"] for d in b_usage["data"]) < today["asks"] or not b_usage["data"]
    platform = world.user("b", "owner")
    with psycopg.connect(world.orgs.db.admin_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET platform_role = 'admin' WHERE id = %s", (platform.user_id,))
    seen = platform.get(f"/api/v1/admin/organizations/{world.orgs.org_a}/agent-usage").get_json()
    assert seen["data"][0]["asks"] == world.user("a", "admin").get("/api/v1/admin/agent/usage").get_json()[
        "data"][0]["asks"]
    assert world.user("a", "owner").get(
        f"/api/v1/admin/organizations/{world.orgs.org_b}/agent-usage").status_code == 403


def test_metrics_count_asks_tokens_and_tool_calls_without_org_labels(world):
    world.model.play([call("listEntities"), say("ok")])
    ask(world, "metrics")
    text = anonymous(world.orgs.app).get("/metrics", headers={"Authorization": "Bearer metrics-token"}
                                         ).get_data(as_text=True)
    agent_lines = [line for line in text.splitlines() if line.startswith("atlas_agent_")]
    assert any(line.startswith('atlas_agent_asks_total{outcome="answered"}') for line in agent_lines)
    assert any(line.startswith('atlas_agent_tokens_total{kind="prompt"}') for line in agent_lines)
    assert any('tool="listEntities"' in line for line in agent_lines)
    assert not any(str(world.orgs.org_a) in line or "org_id" in line for line in agent_lines)


def test_a_questions_slots_are_per_org_and_refused_at_once_when_taken(db_factory, tmp_path):
    """One org's question in flight holds its only slot; its next is 429 at once, another org's goes on."""
    entered, release = threading.Event(), threading.Event()

    def slow(_request):
        entered.set()
        assert release.wait(30)
        return {"content": "slow answer"}

    with scripted_model([slow]) as model, two_org_world(
            db_factory, semantic_root=str(tmp_path), agent_base_url=model.url, agent_model="m",
            agent_max_asks_per_org=1, agent_asks_per_worker=3) as orgs:
        conversations = {org: orgs.user(org, "member").post("/api/v1/conversations", json={}).get_json()["id"]
                         for org in ("a", "b")}
        results: dict[str, str] = {}

        def first() -> None:
            r = orgs.user("a", "admin").post(f"/api/v1/conversations/{conversations['a']}/ask",
                                             json={"question": "slow one"})
            results["first"] = r.get_data(as_text=True)

        thread = threading.Thread(target=first)
        thread.start()
        try:
            assert entered.wait(30)
            refused = orgs.user("a", "member").post(f"/api/v1/conversations/{conversations['a']}/ask",
                                                    json={"question": "second"})
            assert refused.status_code == 429 and refused.get_json()["code"] == "too_many_concurrent_asks"
            assert "ATLAS_AGENT_MAX_ASKS_PER_ORG" in refused.get_json()["message"]
            model.play([say("b answered")])
            other = orgs.user("b", "member").post(f"/api/v1/conversations/{conversations['b']}/ask",
                                                  json={"question": "b asks meanwhile"})
            assert other.status_code == 200 and parse_sse(other.get_data(as_text=True))[-1][0] == "answer"
        finally:
            release.set()
            thread.join(30)
        assert "slow answer" in results["first"]
        # A client that goes away after the first event frees the org's slot: the next question is answered.
        model.play([say("never read")])
        gone = orgs.user("a", "member").post(f"/api/v1/conversations/{conversations['a']}/ask",
                                             json={"question": "and leave"}, buffered=False)
        assert next(iter(gone.response)).startswith(b"event: started")
        gone.close()
        model.play([say("answered after the other left")])
        again = orgs.user("a", "member").post(f"/api/v1/conversations/{conversations['a']}/ask",
                                              json={"question": "again"})
        assert again.status_code == 200 and "answered after the other left" in again.get_data(as_text=True)


def test_the_daily_token_budget_refuses_with_429_naming_the_setting(db_factory, tmp_path):
    with scripted_model([say("a long answer " * 50)]) as model, two_org_world(
            db_factory, semantic_root=str(tmp_path), agent_base_url=model.url, agent_model="m",
            agent_tokens_per_day=50) as orgs:
        member = orgs.user("a", "member")
        conversation = member.post("/api/v1/conversations", json={}).get_json()["id"]
        first = member.post(f"/api/v1/conversations/{conversation}/ask", json={"question": "spend it"})
        assert parse_sse(first.get_data(as_text=True))[-1][0] == "answer"
        spent = member.post(f"/api/v1/conversations/{conversation}/ask", json={"question": "again"})
        assert spent.status_code == 429 and spent.get_json()["code"] == "agent_budget_spent"
        assert "ATLAS_AGENT_TOKENS_PER_DAY" in spent.get_json()["message"] and int(spent.headers["Retry-After"]) >= 1
        assert len(model.received) == 1  # refused before any model call
        b = orgs.user("b", "member")
        b_conversation = b.post("/api/v1/conversations", json={}).get_json()["id"]
        assert b.post(f"/api/v1/conversations/{b_conversation}/ask", json={"question": "mine"}).status_code == 200


def test_without_a_model_server_ask_names_the_settings_and_sql_mode_still_works(fresh_db, tmp_path):
    app = make_app(fresh_db, semantic_root=str(tmp_path))
    try:
        from tests.support.api import build_two_orgs

        orgs = build_two_orgs(app, fresh_db)
        member = orgs.user("a", "member")
        status = member.get("/api/v1/agent").get_json()
        assert status["configured"] is False
        assert status["missingSettings"] == ["ATLAS_AGENT_BASE_URL", "ATLAS_AGENT_MODEL"]
        conversation = member.post("/api/v1/conversations", json={}).get_json()["id"]
        r = member.post(f"/api/v1/conversations/{conversation}/ask", json={"question": "contacts per stage?"})
        assert r.status_code == 409 and r.get_json()["code"] == "agent_not_configured"
        assert "ATLAS_AGENT_BASE_URL" in r.get_json()["message"] and "ATLAS_AGENT_MODEL" in r.get_json()["message"]
        orgs.user("a", "owner").put("/api/v1/admin/semantic/org/entities/contacts", json={
            "yamlContent": "table: contacts\ndimensions:\n- name: id\n  sql: id\n  type: uuid\n"})
        assert member.post("/api/v1/query", json={"sql": "SELECT count(*) FROM contacts"}).status_code == 200
        for bad in ({}, {"question": ""}, {"question": 5}, {"question": "x" * 5000}):
            assert member.post(f"/api/v1/conversations/{conversation}/ask", json=bad).status_code in (400, 409)
    finally:
        close(app)


def test_asking_in_a_conversation_of_another_org_is_a_404(world):
    foreign = world.conversation("b")
    world.model.play([say("should not be called")])
    r = world.user("a").post(f"/api/v1/conversations/{foreign}/ask", json={"question": "hi"})
    assert r.status_code == 404 and world.model.received == []
    assert world.user("b").get(f"/api/v1/conversations/{foreign}").get_json()["messages"] == []


def test_the_time_budget_stops_a_slow_model_audited_as_refused(db_factory, tmp_path):
    with scripted_model([call("listEntities")], delay_s=0.6) as model, two_org_world(
            db_factory, semantic_root=str(tmp_path), agent_base_url=model.url, agent_model="m",
            agent_time_budget_s=1.0) as orgs:
        member = orgs.user("a", "member")
        conversation = member.post("/api/v1/conversations", json={}).get_json()["id"]
        r = member.post(f"/api/v1/conversations/{conversation}/ask", json={"question": "slowly"})
        name, data = parse_sse(r.get_data(as_text=True))[-1]
        assert (name, data["code"]) == ("stopped", "agent_time_limit")
        assert "ATLAS_AGENT_TIME_BUDGET_S" in data["message"] and len(model.received) <= 2
        with psycopg.connect(orgs.db.admin_url) as conn:
            assert conn.execute("SELECT count(*) FROM audit_log WHERE org_id = %s AND action = 'agent.refused'"
                                " AND outcome = 'refused' AND detail->>'code' = 'agent_time_limit'",
                                (orgs.org_a,)).fetchone()[0] == 1
