"""The platform-admin path: the one deliberate cross-org read, on its own role, audited."""
from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from tests.support.api import anonymous, two_org_world
from tests.support.errors import error_of


@pytest.fixture(scope="module")
def world(db_factory):
    with two_org_world(db_factory) as world:
        admin = world.user("b", "member")
        with psycopg.connect(world.db.admin_url, autocommit=True) as conn:
            conn.execute("UPDATE users SET platform_role = 'admin' WHERE id = %s", (admin.user_id,))
            conn.execute("INSERT INTO conversations (org_id, title) VALUES (%s, 'q1'), (%s, 'q2')",
                         (world.org_a, world.org_a))
            conn.execute("INSERT INTO audit_log (org_id, action, entity) VALUES (%s, 'query.run', 'query')",
                         (world.org_a,))
        yield world, admin


def test_a_platform_admin_lists_every_organization_with_member_counts(world):
    world, admin = world
    response = admin.get("/api/v1/admin/organizations")
    assert response.status_code == 200
    orgs = {o["id"]: o for o in response.get_json()["data"]}
    assert set(orgs) == {str(world.org_a), str(world.org_b)}
    assert orgs[str(world.org_a)]["memberCount"] == 3 and orgs[str(world.org_a)]["slug"] == "acme"


def test_a_platform_admin_reads_another_orgs_members_and_invitations(world):
    world, admin = world
    body = admin.get(f"/api/v1/admin/organizations/{world.org_a}").get_json()
    assert body["id"] == str(world.org_a)
    assert {m["user"]["email"] for m in body["members"]} == {
        "owner@acme.test", "admin@acme.test", "member@acme.test"}
    assert all(m["organizationId"] == str(world.org_a) for m in body["members"])
    assert isinstance(body["invitations"], list) and body["invitations"]


def test_a_platform_admin_reads_org_stats(world):
    world, admin = world
    stats = admin.get(f"/api/v1/admin/organizations/{world.org_a}/stats").get_json()
    assert stats == {"organizationId": str(world.org_a), "conversations": 2, "members": 3, "queries": 1,
                     "jobsQueued": 0, "jobsRunning": 0, "jobsDead": 0}


@pytest.mark.parametrize("path", ["/{a}", "/{a}/stats"])
def test_an_unknown_or_malformed_org_is_404(world, path):
    world, admin = world
    for target in (uuid.uuid4(), "not-an-id"):
        assert admin.get("/api/v1/admin/organizations" + path.format(a=target)).status_code == 404


@pytest.mark.parametrize("org, role", [("a", "member"), ("a", "admin"), ("a", "owner"), ("b", "owner")])
@pytest.mark.parametrize("path", ["", "/{a}", "/{a}/stats"])
def test_ordinary_users_and_org_admins_are_refused(world, org, role, path):
    world, _ = world
    response = world.user(org, role).get("/api/v1/admin/organizations" + path.format(a=world.org_a))
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    assert anonymous(world.app).get("/api/v1/admin/organizations").status_code == 401


def test_platform_reads_are_audited_in_the_platform_trail_and_the_target_org(world):
    world, admin = world
    admin.get(f"/api/v1/admin/organizations/{world.org_a}/stats")
    with psycopg.connect(world.db.admin_url) as conn:
        trail = conn.execute(
            "SELECT action, target_org_id FROM platform_audit WHERE actor_user_id = %s", (admin.user_id,)
        ).fetchall()
        org_entries = conn.execute(
            "SELECT actor_user_id FROM audit_log WHERE org_id = %s AND action = 'platform.organization.stats'",
            (world.org_a,)).fetchall()
    assert ("platform.organization.stats", world.org_a) in trail
    assert (admin.user_id,) in org_entries


def test_the_platform_role_sees_nothing_outside_a_platform_transaction(world):
    world, _ = world
    with psycopg.connect(world.db.platform_url) as conn:
        assert conn.execute("SELECT count(*) FROM organizations").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM members").fetchone()[0] == 0


def test_a_platform_transaction_for_a_non_admin_is_refused_in_sql(world):
    """Even with the platform role and the scope declared, a non-admin user id sees nothing useful."""
    world, _ = world
    from app.db import Database
    from app.errors import ForbiddenError

    database = Database(world.db.platform_url, min_size=0, max_size=1)
    database.open()
    try:
        with pytest.raises(ForbiddenError):
            with database.platform_transaction(user_id=world.user("a", "owner").user_id):
                pass
    finally:
        database.close()


@pytest.mark.parametrize("statement", [
    "UPDATE organizations SET name = 'pwned'",
    "DELETE FROM members",
    "INSERT INTO contacts (org_id, first_name) SELECT id, 'x' FROM organizations",
    "SELECT password_hash FROM users",
    "SELECT * FROM contacts",
    "SELECT set_config('app.platform_scope', 'on', true)",
])
def test_the_platform_role_cannot_write_or_read_crm_data(world, statement):
    world, _ = world
    with psycopg.connect(world.db.platform_url) as conn:
        conn.execute(sql.SQL("SET LOCAL app.platform_scope = 'on'"))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)
