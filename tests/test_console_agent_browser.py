"""The console's Ask page in a real browser, asking the analytics agent end to end against the scripted model
server: the steps appear as they come (a refused query among them), then the answer, its SQL, the table and the
chart; the question and answer join the conversation history."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.devdb.databases import DatabaseFactory
from tests.support.browser import Page, chromium, console_server
from tests.support.console_world import PASSWORD, World, build_world
from tests.support.model_server import ScriptedModel, call, calls, say, scripted_model

COUNT_SQL = "SELECT lifecycle_stage, count(*) AS contacts FROM contacts GROUP BY lifecycle_stage ORDER BY 1"


@pytest.fixture(scope="module")
def site(db_factory: DatabaseFactory,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Page, World, ScriptedModel]]:
    db = db_factory.clone()
    try:
        with scripted_model([say("idle")]) as model, console_server(
                db, agent_base_url=model.url, agent_model="scripted-model", agent_api_key="sk-browser-test") as served, \
                chromium() as driver:
            world = build_world(served.port, contacts=9)
            yield Page(driver, served.port, tmp_path_factory.mktemp("shots")), world, model
    finally:
        db_factory.drop(db.name)


def test_a_question_shows_its_steps_then_the_answer_table_and_chart(site):
    page, _world, model = site
    model.play([call("executeSQL", sql="SELECT rolname FROM pg_authid"), call("listEntities"),
                call("executeSQL", sql=COUNT_SQL), say("Each lifecycle stage has 3 contacts.")])
    page.sign_in("member@acme.test", PASSWORD)
    page.open("/ask")
    assert page.visible("#question-form") and not page.visible("#ask-form")
    page.find("#question").clear()
    page.find("#question").send_keys("How many contacts per lifecycle stage?")
    page.navigating(lambda: page.find("#question-form button[type=submit]").click())
    steps = page.texts("#steps li")
    assert any(s.startswith("Refused (sql_rejected)") for s in steps), steps
    assert any(s.startswith("executeSQL") and COUNT_SQL in s for s in steps), steps
    assert "3 rows" in steps
    assert page.find("#answer-text").text == "Each lifecycle stage has 3 contacts."
    assert page.texts("#result-table thead th") == ["lifecycle_stage", "contacts"]
    assert len(page.find_all("#result-table tbody tr")) == 3
    assert len(page.find_all("#chart svg rect.bar")) == 3
    page.wait(lambda d: "How many contacts per lifecycle stage?" in page.find("#conversations").text)
    page.shot("ask-agent")


def test_sql_mode_still_runs_sql_beside_the_agent(site):
    page, _world, _model = site
    page.sign_in("member@acme.test", PASSWORD)
    page.open("/ask")
    page.find("#mode-sql").click()
    page.navigating(lambda: page.find("#ask-form button[type=submit]").click())
    assert page.texts("#result-table thead th") == ["lifecycle_stage", "contacts"]


def test_a_hijacked_models_html_is_shown_as_text_and_never_runs(site):
    page, _world, model = site
    payload = '<img src=x onerror="window.__pwned=1">'
    model.play([calls(("describeEntity", {"name": payload})), say(payload)])
    page.sign_in("member@acme.test", PASSWORD)
    page.open("/ask")
    page.navigating(lambda: page.find("#question-form button[type=submit]").click())
    assert page.find("#answer-text").text == payload
    assert any("<img src=x onerror=" in s for s in page.texts("#steps li"))
    assert page.driver.execute_script("return window.__pwned === undefined")
