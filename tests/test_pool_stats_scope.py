"""An org admin's pool statistics do not move with another org's traffic; the platform admin's do."""
from __future__ import annotations

import psycopg
import pytest

from app.http.context import services
from tests.support.api import build_two_orgs, close_app, make_app

POOLS = {
    "pool": {"mode": "shared", "timeoutMs": 2000, "perOrg": {"maxConnections": 2, "maxOrgs": 5}},
    "maxTotalConnections": 8,
}


def numbers(value, path: str = ""):  # type: ignore[no-untyped-def]
    """Every number in a JSON document, by path (timestamps and strings left out)."""
    if isinstance(value, bool):
        return {}
    if isinstance(value, (int, float)):
        return {path: value}
    found: dict[str, float] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            found.update(numbers(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.update(numbers(item, f"{path}[{index}]"))
    return found


@pytest.fixture(params=[None, POOLS], ids=["base-pool-only", "per-org-pools"])
def world(request, fresh_db):
    app = make_app(fresh_db, **({"pools": request.param} if request.param else {}))
    try:
        yield build_two_orgs(app, fresh_db)
    finally:
        services(app).pools.close()
        close_app(app)


def test_an_org_admins_statistics_do_not_move_with_another_orgs_traffic(world):
    admin_a = world.user("a", "admin")
    platform = world.user("b", "owner")
    with psycopg.connect(world.db.admin_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET platform_role = 'admin' WHERE email = %s", (platform.email,))

    def view() -> dict:
        response = admin_a.get("/api/v1/admin/connections")
        assert response.status_code == 200
        return numbers(response.get_json())

    first, second = view(), view()
    own_step = {k: second[k] - first[k] for k in first}  # what A's own request moves
    platform_before = numbers(platform.get("/api/v1/admin/connections").get_json())
    member_b = world.user("b", "member")
    for _ in range(25):
        assert member_b.get("/api/v1/contacts?limit=1").status_code == 200
    third = view()
    assert set(third) == set(second)
    assert {k: third[k] - second[k] for k in third} == own_step
    platform_after = numbers(platform.get("/api/v1/admin/connections").get_json())
    assert platform_after[".base[0].requests"] > platform_before[".base[0].requests"]


def test_an_org_admin_sees_the_shared_pools_size_but_not_their_traffic(world):
    body = world.user("a", "owner").get("/api/v1/admin/connections").get_json()
    assert body["scope"] == "organization"
    assert [set(row) for row in body["base"]] == [{"datasource", "max_connections"}]
    assert set(body["totals"]) == {"reserved_connections", "open_connections"}
