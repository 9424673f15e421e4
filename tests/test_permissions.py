"""The role matrix: every cell, through the HTTP stack, allowed gives 2xx and denied gives 403.

EXPECTED is the issue's table, copied here by hand: the app's PERMISSIONS must
equal it, and every cell is exercised through `permission()` on a probe route
(resources without endpoints yet) and through the real endpoints for
organization and member.
"""
from __future__ import annotations

import uuid

import psycopg
import pytest
from flask import Blueprint

from app.endpoint import endpoint
from app.permissions import (
    ACTIONS,
    LOGIN,
    MEMBER,
    PERMISSIONS,
    PLATFORM_ADMIN,
    PUBLIC,
    any_of,
    can,
    chosen_by,
    permission,
    platform_admin,
    roles,
)
from tests.support.api import sign_up, two_org_world
from tests.support.errors import error_of

_ALL = {"create", "read", "update", "delete"}
EXPECTED = {  # resource: (member, admin, owner)
    "organization": (set(), set(), {"update", "delete"}),
    "member": (set(), _ALL, _ALL),
    "connection": ({"read"}, _ALL, _ALL),
    "conversation": ({"create", "read"}, {"create", "read", "delete"}, {"create", "read", "delete"}),
    "semantic": ({"read"}, {"read", "update"}, {"read", "update"}),
    "settings": ({"read"}, {"read", "update"}, {"read", "update"}),
    "apiKey": (set(), {"create", "read", "delete"}, {"create", "read", "delete"}),
    # issue 14: admins and owners enqueue, cancel and retry jobs; members see them.
    "job": ({"read"}, {"create", "read", "update"}, {"create", "read", "update"}),
    # issue 30: custom roles (Better Auth's `ac`): members see the org's roles, admins and owners manage them;
    # teams: members see them, admins and owners manage them; SCIM tokens: admins and owners.
    "ac": ({"read"}, _ALL, _ALL),
    "team": ({"read"}, _ALL, _ALL),
    "scim": (set(), {"create", "read", "delete"}, {"create", "read", "delete"}),
    # issue 30: admins and owners manage the org's SSO providers.
    "ssoProvider": (set(), {"create", "read", "update", "delete"}, {"create", "read", "update", "delete"}),
}
ROLES = ("member", "admin", "owner")
CELLS = [(res, role, action) for res in EXPECTED for role in ROLES for action in ACTIONS]


def _allowed(resource: str, role: str, action: str) -> bool:
    return action in EXPECTED[resource][ROLES.index(role)]


def probe_blueprint() -> Blueprint:
    """One route per matrix cell plus one per other access kind, each declared like a real view."""
    bp = Blueprint("probe", __name__, url_prefix="/_probe")
    for resource in PERMISSIONS:
        for action in ACTIONS:
            def view(resource: str = resource, action: str = action) -> dict:
                return {"resource": resource, "action": action}
            bp.add_url_rule(f"/{resource}/{action}", f"{resource}_{action}", endpoint(permission(resource, action))(view))
    bp.add_url_rule("/roles/admin-owner", "roles", endpoint(roles("admin", "owner"))(lambda: {"ok": True}))
    bp.add_url_rule("/platform", "platform", endpoint(PLATFORM_ADMIN)(lambda: {"ok": True}))
    bp.add_url_rule("/member", "member", endpoint(MEMBER)(lambda: {"ok": True}))
    bp.add_url_rule("/login", "login", endpoint(LOGIN)(lambda: {"ok": True}))
    bp.add_url_rule("/public", "public", endpoint(PUBLIC)(lambda: {"ok": True}))
    bp.add_url_rule("/undeclared", "undeclared", lambda: {"reached": True})
    bp.add_url_rule("/either", "either", endpoint(any_of(platform_admin(), roles("admin", "owner"),
                                                         refusal="probe: admins or platform admins"))(lambda: {"ok": True}))
    bp.add_url_rule("/by-field", "by_field", endpoint(chosen_by("scope", default="org", choices={
        "org": roles("admin", "owner", refusal="probe: org admins only"),
        "all": platform_admin(refusal="probe: platform admins only"),
    }))(lambda: {"ok": True}), methods=["POST"])
    bp.add_url_rule("/org-optional", "org_optional", endpoint(permission("semantic", "update", org_optional=True))(
        lambda: {"ok": True}))
    return bp


@pytest.fixture(scope="module")
def world(db_factory):
    with two_org_world(db_factory, blueprints=[probe_blueprint()]) as world:
        yield world


def test_declared_matrix_is_exactly_the_issue_table():
    declared = {res: tuple(set(PERMISSIONS[res].get(role, ())) for role in ROLES) for res in PERMISSIONS}
    assert declared == {res: tuple(cells) for res, cells in EXPECTED.items()}


@pytest.mark.parametrize("resource,role,action", CELLS, ids=["-".join(c) for c in CELLS])
def test_every_matrix_cell_through_require(world, resource, role, action):
    response = world.user("a", role).get(f"/_probe/{resource}/{action}")
    if _allowed(resource, role, action):
        assert response.status_code == 200, response.get_json()
    else:
        assert response.status_code == 403
        assert error_of(response)["code"] == "forbidden"
    assert can(role, resource, action) is _allowed(resource, role, action)


@pytest.mark.parametrize("role,status", [("member", 403), ("admin", 200), ("owner", 200)])
def test_roles_required_admits_only_the_named_roles(world, role, status):
    assert world.user("b", role).get("/_probe/roles/admin-owner").status_code == status


def test_platform_admin_is_a_user_with_platform_role_admin(world):
    owner = world.user("a", "owner")
    assert owner.get("/_probe/platform").status_code == 403
    with psycopg.connect(world.db.admin_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET platform_role = 'admin' WHERE id = %s", (owner.user_id,))
    try:
        assert owner.get("/_probe/platform").status_code == 200
    finally:
        with psycopg.connect(world.db.admin_url, autocommit=True) as conn:
            conn.execute("UPDATE users SET platform_role = 'user' WHERE id = %s", (owner.user_id,))


def test_a_view_without_an_access_declaration_is_refused_unreached(world):
    response = world.user("a", "owner").get("/_probe/undeclared")
    assert response.status_code == 500
    assert "reached" not in response.get_data(as_text=True)
    assert error_of(response)["code"] == "internal_error"


def test_no_session_is_401_and_public_needs_none(world):
    client = world.app.test_client()
    assert client.get("/_probe/public").status_code == 200
    for path in ("/_probe/login", "/_probe/member", "/_probe/member/read", "/_probe/roles/admin-owner"):
        assert client.get(path).status_code == 401


def test_a_session_without_an_org_reaches_login_views_only(world):
    loner = sign_up(world.app, f"loner-{uuid.uuid4().hex[:6]}@example.test")
    assert loner.get("/_probe/login").status_code == 200
    for path in ("/_probe/member", "/_probe/conversation/read", "/_probe/roles/admin-owner"):
        response = loner.get(path)
        assert response.status_code == 403
        assert error_of(response)["code"] == "no_active_organization"


def test_every_registered_endpoint_declares_its_access(api_app):
    """Coverage that cannot rot: a new endpoint without a declaration fails here."""
    from app.permissions import access_of

    undeclared = [rule.rule for rule in api_app.url_map.iter_rules()
                  if access_of(api_app.view_functions[rule.endpoint]) is None]
    assert undeclared == []


def test_every_non_public_endpoint_answers_401_without_a_session(api_app):
    from app.permissions import access_of

    client = api_app.test_client()
    for rule in api_app.url_map.iter_rules():
        if access_of(api_app.view_functions[rule.endpoint]).kind == "public" or rule.arguments:
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = client.open(rule.rule, method=method, json={})
            assert response.status_code == 401, (method, rule.rule)
            expected = "UNAUTHORIZED" if rule.rule.startswith("/api/auth/") else "unauthorized"
            assert error_of(response)["code"] == expected


def test_unknown_permission_fails_at_declaration():
    with pytest.raises(ValueError):
        permission("organisation", "update")
    with pytest.raises(ValueError):
        permission("member", "list")
    assert can(None, "member", "read") is False


# ----- views with two audiences, declared rather than checked inline -----

def _as_platform_admin(world, user, value: str) -> None:  # type: ignore[no-untyped-def]
    with psycopg.connect(world.db.admin_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET platform_role = %s WHERE id = %s", (value, user.user_id))


def test_either_admits_any_of_its_audiences_and_refuses_with_its_message(world):
    member, loner = world.user("a", "member"), sign_up(world.app, f"loner-{uuid.uuid4().hex[:6]}@example.test")
    for user in (member, loner):
        response = user.get("/_probe/either")
        assert response.status_code == 403
        assert error_of(response) == {"code": "forbidden", "message": "probe: admins or platform admins"}
    assert world.user("a", "admin").get("/_probe/either").status_code == 200
    _as_platform_admin(world, loner, "admin")
    try:
        assert loner.get("/_probe/either").status_code == 200  # no org needed for the platform audience
    finally:
        _as_platform_admin(world, loner, "user")


def test_by_field_lets_the_body_choose_the_audience_and_refuses_unknown_values(world):
    admin, member = world.user("a", "admin"), world.user("a", "member")
    assert admin.post("/_probe/by-field", json={}).status_code == 200
    assert admin.post("/_probe/by-field", json={"scope": "org"}).status_code == 200
    refused = admin.post("/_probe/by-field", json={"scope": "all"})
    assert refused.status_code == 403 and error_of(refused)["message"] == "probe: platform admins only"
    assert error_of(member.post("/_probe/by-field", json={}))["message"] == "probe: org admins only"
    for value in ("everything", ["all"], None):
        error = error_of(admin.post("/_probe/by-field", json={"scope": value}))
        assert error["code"] == "validation_error" and error["fields"] == {"scope": "must be org or all"}
    assert world.app.test_client().post("/_probe/by-field", json={"scope": "all"}).status_code == 401
    _as_platform_admin(world, member, "admin")
    try:
        assert member.post("/_probe/by-field", json={"scope": "all"}).status_code == 200
        assert member.post("/_probe/by-field", json={}).status_code == 403  # the org audience still needs its role
    finally:
        _as_platform_admin(world, member, "user")


def test_org_optional_admits_a_session_without_an_org_but_not_a_role_without_the_cell(world):
    loner = sign_up(world.app, f"loner-{uuid.uuid4().hex[:6]}@example.test")
    assert loner.get("/_probe/org-optional").status_code == 200
    assert world.user("a", "admin").get("/_probe/org-optional").status_code == 200
    assert world.user("a", "member").get("/_probe/org-optional").status_code == 403


def test_two_audience_declarations_are_checked_when_declared():
    with pytest.raises(ValueError):
        any_of(platform_admin(), refusal="one audience is not two")
    with pytest.raises(ValueError):
        chosen_by("scope", default="missing", choices={"org": roles("admin")})


# ----- the real endpoints for the resources that have them -----

def _member_request(world, role, action):  # type: ignore[no-untyped-def]
    """The real call for member:<action>, aimed at org A's member-role user (never the actor)."""
    target = world.user("a", "member")
    if action == "create":
        return "/api/auth/organization/invite-member", {"email": f"new-{uuid.uuid4().hex[:6]}@x.test",
                                                        "role": "member"}
    if action == "read":  # listing members is membership (as in Better Auth); member:read is the invitations
        return "/api/auth/organization/list-invitations", None
    if action == "update":
        return "/api/auth/organization/update-member-role", {"memberId": str(target.member_id), "role": "member"}
    return "/api/auth/organization/remove-member", {"memberIdOrEmail": target.email}


REAL_CELLS = [("organization", role, action) for role in ROLES for action in ("update", "delete")] + [
    ("member", role, action) for role in ROLES for action in ACTIONS]


@pytest.mark.parametrize("resource,role,action", REAL_CELLS, ids=["-".join(c) for c in REAL_CELLS])
def test_every_matrix_cell_on_the_real_endpoints(two_orgs, resource, role, action):
    actor = two_orgs.user("a", role)
    if resource == "organization":
        path = f"/api/auth/organization/{action}"
        body = {"data": {"name": "Acme Renamed"}} if action == "update" else {"organizationId": str(two_orgs.org_a)}
    else:
        path, body = _member_request(two_orgs, role, action)
    if role == "member" and resource == "member" and action in ("update", "delete"):
        # the member may not act even on a fellow member; aim at the admin to keep it meaningful
        body = ({"memberId": str(two_orgs.user("a", "admin").member_id), "role": "member"}
                if action == "update" else {"memberIdOrEmail": two_orgs.user("a", "admin").email})
    response = actor.get(path) if body is None else actor.post(path, json=body)
    if _allowed(resource, role, action):
        assert 200 <= response.status_code < 300, response.get_json()
    else:
        assert response.status_code == 403, response.get_json()
        assert error_of(response)["code"].startswith("YOU_ARE_NOT_ALLOWED_TO_"), response.get_json()
