"""GET /api/v1/admin/connections: who sees which pools, and the capacity error as the API answers it."""
from __future__ import annotations

import uuid

import psycopg
import pytest

from app.endpoint import endpoint
from app.http.context import services
from app.permissions import PUBLIC
from tests.support.api import anonymous, build_two_orgs, close_app, make_app
from tests.support.errors import error_of

POOLS = {
    "pool": {"mode": "shared", "timeoutMs": 200,
             "perOrg": {"maxConnections": 2, "maxOrgs": 5, "warmupProbes": 1}},
    "maxTotalConnections": 6,
}


@pytest.fixture
def world(fresh_db):
    """Two orgs built through the API; each has used its pool once."""
    app = make_app(fresh_db, pools=POOLS)
    world = build_two_orgs(app, fresh_db)
    registry = services(app).pools
    for org in (world.org_a, world.org_b):
        with registry.connection(org) as conn:
            conn.execute("SELECT 1")
    yield world
    services(app).pools.close()
    close_app(app)


def make_platform_admin(world, email: str) -> None:
    with psycopg.connect(world.db.admin_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET platform_role = 'admin' WHERE email = %s", (email,))


@pytest.mark.parametrize("role", ["admin", "owner"])
def test_an_org_admin_sees_only_its_own_pools(world, role):
    response = world.user("a", role).get("/api/v1/admin/connections")
    assert response.status_code == 200
    body = response.get_json()
    assert body["scope"] == "organization" and body["org_id"] == str(world.org_a)
    assert [row["org_id"] for row in body["orgs"]] == [str(world.org_a)]
    assert body["orgs"][0]["checkouts"] >= 1 and body["orgs"][0]["queries"] >= 1
    assert body["base"][0]["max_connections"] == 6
    assert str(world.org_b) not in response.get_data(as_text=True)


def test_requests_through_the_door_are_counted_in_the_orgs_pool(world):
    """The org-scoped door takes its connections from the registry, so the monitor sees real traffic."""
    admin = world.user("a", "admin")

    def org_a_checkouts() -> int:
        return admin.get("/api/v1/admin/connections").get_json()["orgs"][0]["checkouts"]

    before = org_a_checkouts()
    assert admin.get("/api/v1/contacts").status_code == 200
    assert org_a_checkouts() > before


def test_a_member_sees_the_orgs_connections_but_no_pool_numbers(world):
    """Members read connections (the matrix); pool statistics are for admins and owners."""
    response = world.user("a", "member").get("/api/v1/admin/connections")
    assert response.status_code == 200
    body = response.get_json()
    assert body["connections"] == [] and body["org_id"] == str(world.org_a)
    assert not {"orgs", "base", "totals", "drains"} & set(body)
    assert anonymous(world.app).get("/api/v1/admin/connections").status_code == 401


def test_a_platform_admin_sees_every_org(world):
    member = world.user("b", "member")
    make_platform_admin(world, member.email)
    body = member.get("/api/v1/admin/connections").get_json()
    assert body["scope"] == "platform"
    assert {row["org_id"] for row in body["orgs"]} == {str(world.org_a), str(world.org_b)}
    assert body["totals"]["orgs"] == 2 and body["limits"]["perOrg"]["maxOrgs"] == 5


def test_the_capacity_error_is_a_503_naming_the_settings(fresh_db):
    app = make_app(fresh_db, pools={**POOLS, "pool": {**POOLS["pool"], "perOrg": {"maxOrgs": 1, "maxConnections": 1}}})
    busy, blocked = uuid.uuid4(), uuid.uuid4()

    @endpoint(PUBLIC)
    def use_blocked_org():
        with services(app).pools.connection(blocked):
            return {}

    app.add_url_rule("/test/pool", view_func=use_blocked_org)
    try:
        with services(app).pools.connection(busy):
            response = anonymous(app).get("/test/pool")
        assert response.status_code == 503
        error = error_of(response)
        assert error["code"] == "pool_capacity_exceeded"
        for setting in ("pool.perOrg.maxConnections", "pool.perOrg.maxOrgs", "maxTotalConnections"):
            assert setting in error["message"]
        assert anonymous(app).get("/test/pool").status_code == 200  # busy org is idle again
    finally:
        services(app).pools.close()
        close_app(app)
