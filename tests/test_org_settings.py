"""GET/PATCH /api/v1/settings: the matrix, bounds, audit, version, and one org only."""
from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from app.query_settings import QueryBounds
from tests.support.api import two_org_world
from tests.support.errors import error_of

SETTINGS = "/api/v1/settings"
BOUNDS = QueryBounds()


@pytest.fixture(scope="module")
def orgs(db_factory, tmp_path_factory):
    with two_org_world(db_factory, semantic_root=str(tmp_path_factory.mktemp("semantic"))) as world:
        yield world


@pytest.fixture
def reset(orgs):
    yield orgs
    for org in ("a", "b"):
        if stored(orgs, org) is not None:
            orgs.user(org, "owner").patch(SETTINGS, json={
                "queryRowLimit": None, "queryStatementTimeoutMs": None, "queryRatePerMinute": None,
                "queryMaxInFlight": None})


def stored(orgs, org: str) -> tuple | None:
    with psycopg.connect(orgs.db.admin_url) as conn:
        return conn.execute("SELECT query_row_limit, query_statement_timeout_ms, query_rate_per_minute, version,"
                            " updated_by FROM org_settings WHERE org_id = %s", (orgs.org(org),)).fetchone()


def test_an_org_without_settings_reads_the_platform_defaults(orgs):
    r = orgs.user("b", "member").get(SETTINGS)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["settings"] == {"queryRowLimit": None, "queryStatementTimeoutMs": None, "queryRatePerMinute": None,
                                "queryMaxInFlight": None}
    assert body["effective"] == {"queryRowLimit": 1000, "queryStatementTimeoutMs": 10000, "queryRatePerMinute": 60,
                                 "queryMaxInFlight": 2}
    assert body["bounds"]["queryRowLimit"]["max"] == BOUNDS.row_limit_max
    assert body["version"] == 0 and stored(orgs, "b") is None


@pytest.mark.parametrize(("role", "status"), [("member", 403), ("admin", 200), ("owner", 200)])
def test_members_read_and_only_admins_and_owners_change(reset, role, status):
    user = reset.user("a", role)
    assert user.get(SETTINGS).status_code == 200
    r = user.patch(SETTINGS, json={"queryRowLimit": 50})
    assert r.status_code == status, r.get_json()
    if status == 403:
        assert error_of(r)["code"] == "forbidden"
        assert (stored(reset, "a") or (None,))[0] != 50
    else:
        assert stored(reset, "a")[0] == 50


def test_a_change_is_stored_versioned_audited_and_effective(reset):
    admin = reset.user("a", "admin")
    first = admin.patch(SETTINGS, json={"queryRowLimit": 50, "queryStatementTimeoutMs": 2000}).get_json()
    assert first["settings"]["queryRowLimit"] == 50 and first["effective"]["queryStatementTimeoutMs"] == 2000
    second = admin.patch(SETTINGS, json={"queryRatePerMinute": 10}).get_json()
    assert second["version"] == first["version"] + 1
    assert second["settings"] == {"queryRowLimit": 50, "queryStatementTimeoutMs": 2000, "queryRatePerMinute": 10,
                                  "queryMaxInFlight": None}
    assert stored(reset, "a") == (50, 2000, 10, second["version"], admin.user_id)
    assert reset.user("a", "member").get(SETTINGS).get_json()["settings"] == second["settings"]
    with psycopg.connect(reset.db.admin_url) as conn:
        audited = conn.execute(
            "SELECT changed_fields, actor_user_id, (detail->>'version')::int FROM audit_log"
            " WHERE org_id = %s AND action = 'settings.update' ORDER BY occurred_at DESC, id LIMIT 2",
            (reset.org_a,)).fetchall()
    assert audited[0] == (["query_rate_per_minute"], admin.user_id, second["version"])
    assert audited[1][0] == ["query_row_limit", "query_statement_timeout_ms"]


def test_null_resets_a_setting_to_the_platform_default(reset):
    owner = reset.user("a", "owner")
    owner.patch(SETTINGS, json={"queryRowLimit": 5})
    body = owner.patch(SETTINGS, json={"queryRowLimit": None}).get_json()
    assert body["settings"]["queryRowLimit"] is None and body["effective"]["queryRowLimit"] == 1000


@pytest.mark.parametrize("body", [
    {"queryRowLimit": 0}, {"queryRowLimit": BOUNDS.row_limit_max + 1}, {"queryRowLimit": "10"},
    {"queryRowLimit": True}, {"queryStatementTimeoutMs": BOUNDS.statement_timeout_ms_min - 1},
    {"queryStatementTimeoutMs": BOUNDS.statement_timeout_ms_max + 1}, {"queryRatePerMinute": 0},
    {"queryRatePerMinute": 100_000}, {"workMem": 1}, {},
])
def test_values_outside_the_bounds_are_refused_and_nothing_changes(reset, body):
    before = stored(reset, "a")
    r = reset.user("a", "owner").patch(SETTINGS, json=body)
    assert r.status_code == 400 and error_of(r)["code"] == "validation_error"
    if body:
        assert set(error_of(r)["fields"]) == set(body)
    assert stored(reset, "a") == before


def test_one_orgs_change_is_invisible_to_the_other(reset):
    reset.user("a", "owner").patch(SETTINGS, json={"queryRowLimit": 7})
    assert reset.user("b", "owner").get(SETTINGS).get_json()["settings"]["queryRowLimit"] is None
    assert stored(reset, "b") is None


def test_the_org_cannot_be_chosen_in_the_body(reset):
    r = reset.user("a", "owner").patch(SETTINGS, json={"queryRowLimit": 7, "orgId": str(reset.org_b)})
    assert r.status_code == 403 and error_of(r)["code"] == "cross_org_refused"
    assert stored(reset, "b") is None


def test_the_app_role_cannot_write_another_orgs_settings(reset):
    """Lock 2 for this table: as the app role in org A, an upsert naming B is refused by RLS."""
    with psycopg.connect(reset.db.app_url) as conn:
        conn.execute(sql.SQL("SET LOCAL app.org_id = {}").format(sql.Literal(str(reset.org_a))))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO org_settings (org_id, query_row_limit) VALUES (%s, 1)", (reset.org_b,))
    assert stored(reset, "b") is None
