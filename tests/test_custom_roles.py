"""Custom roles (Better Auth's dynamic access control): built from the matrix, checked where the built-in roles
are, never above their creator, binding at once; and the attacks on them (issue 30, item 3).

Requests go through the real app (Flask's client, bearer tokens) on a clone with Acme and Globex, each with an
owner, an admin and a member (tests/support/api.py).
"""
from __future__ import annotations

import pytest

from tests.support.api import two_org_world
from tests.support.errors import error_code

ORG = "/api/auth/organization"
INVITATIONS = f"{ORG}/list-invitations"  # declared member:read: members are refused it


@pytest.fixture(scope="module")
def world(db_factory):
    with two_org_world(db_factory) as world:
        yield world


def _role(user, name):
    return user.get(f"{ORG}/get-role", query_string={"roleName": name})


def _assign(by, member, role):
    return by.post(f"{ORG}/update-member-role", json={"memberId": str(member.member_id), "role": role})


def _may(user, permissions):
    r = user.post(f"{ORG}/has-permission", json={"permissions": permissions})
    assert r.status_code == 200, r.get_json()
    return r.get_json()["success"]


def test_a_custom_role_grants_its_cells_through_the_same_check_as_built_in_roles(world):
    owner, member = world.user("a", "owner"), world.user("a", "member")
    assert member.get(INVITATIONS).status_code == 403
    r = owner.post(f"{ORG}/create-role", json={"role": "Auditor", "permission": {"member": ["read"],
                                                                                  "conversation": ["read"]}})
    assert r.status_code == 200, r.get_json()
    created = r.get_json()
    assert created["success"] and created["roleData"]["role"] == "auditor"
    assert created["roleData"]["permission"] == {"member": ["read"], "conversation": ["read"]}
    assert created["roleData"]["organizationId"] == str(world.org("a"))
    assert [x["role"] for x in owner.get(f"{ORG}/list-roles").get_json()] == ["auditor"]
    assert _role(member, "auditor").get_json()["id"] == created["roleData"]["id"]  # members read roles (ac:read)

    assert _assign(owner, member, "auditor").status_code == 200
    try:
        assert member.get(INVITATIONS).status_code == 200
        assert _may(member, {"member": ["read"]}) is True
        assert _may(member, {"conversation": ["create"]}) is False  # the built-in member's cell is gone
        assert member.post("/api/v1/conversations", json={"title": "x"}).status_code == 403

        # an edit binds on the very next request (the cells come with the session)
        r = owner.post(f"{ORG}/update-role", json={"roleName": "auditor",
                                                   "data": {"permission": {"conversation": ["read"]}}})
        assert r.status_code == 200, r.get_json()
        assert member.get(INVITATIONS).status_code == 403
        assert _may(member, {"member": ["read"]}) is False
    finally:
        assert _assign(owner, member, "member").status_code == 200
    assert owner.post(f"{ORG}/delete-role", json={"roleName": "auditor"}).get_json() == {"success": True}


def test_an_admin_cannot_create_a_role_above_their_own_permissions(world):
    admin, owner = world.user("a", "admin"), world.user("a", "owner")
    r = admin.post(f"{ORG}/create-role", json={"role": "usurper", "permission": {"organization": ["delete"]}})
    assert r.status_code == 403 and error_code(r) == "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_ROLE"
    assert "organization:delete" in r.get_json()["message"]
    assert _role(owner, "usurper").status_code == 400  # ROLE_NOT_FOUND: nothing was created


def test_an_admin_cannot_widen_or_assign_a_role_above_their_own(world):
    owner, admin, member = world.user("a", "owner"), world.user("a", "admin"), world.user("a", "member")
    r = owner.post(f"{ORG}/create-role", json={"role": "deputy", "permission": {"organization": ["update"]}})
    assert r.status_code == 200, r.get_json()
    try:
        r = _assign(admin, member, "deputy")  # the admin lacks organization:update
        assert r.status_code == 403 and error_code(r) == "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER"
        r = _assign(admin, admin, "deputy")
        assert r.status_code == 403
        r = admin.post(f"{ORG}/update-role", json={"roleName": "deputy",
                                                   "data": {"permission": {"organization": ["update", "delete"]}}})
        assert r.status_code == 403 and error_code(r) == "YOU_ARE_NOT_ALLOWED_TO_UPDATE_A_ROLE"
        r = admin.post(f"{ORG}/delete-role", json={"roleName": "deputy"})
        assert r.status_code == 403
        # the victim's state: the role and both members unchanged
        assert _role(owner, "deputy").get_json()["permission"] == {"organization": ["update"]}
        roles = {m["userId"]: m["role"] for m in owner.get(f"{ORG}/list-members").get_json()["members"]}
        assert roles[str(member.user_id)] == "member" and roles[str(admin.user_id)] == "admin"
    finally:
        owner.post(f"{ORG}/delete-role", json={"roleName": "deputy"})


def test_a_custom_role_holder_cannot_grant_more_than_their_role(world):
    owner, member = world.user("a", "owner"), world.user("a", "member")
    r = owner.post(f"{ORG}/create-role", json={"role": "role-maker", "permission": {"ac": ["create", "read"]}})
    assert r.status_code == 200, r.get_json()
    assert _assign(owner, member, "role-maker").status_code == 200
    try:
        r = member.post(f"{ORG}/create-role", json={"role": "keys", "permission": {"apiKey": ["create"]}})
        assert r.status_code == 403 and error_code(r) == "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_ROLE"
        r = member.post(f"{ORG}/create-role", json={"role": "self-copy", "permission": {"ac": ["read"]}})
        assert r.status_code == 200, r.get_json()
        # ... and may not hand out even a built-in role above their own
        assert _assign(member, member, "admin").status_code == 403
    finally:
        assert _assign(owner, member, "member").status_code == 200
        for name in ("role-maker", "self-copy"):
            owner.post(f"{ORG}/delete-role", json={"roleName": name})


def test_deleting_a_role_in_use_is_refused_until_its_members_are_reassigned(world):
    owner, member = world.user("a", "owner"), world.user("a", "member")
    owner.post(f"{ORG}/create-role", json={"role": "reader", "permission": {"connection": ["read"]}})
    assert _assign(owner, member, "reader").status_code == 200
    r = owner.post(f"{ORG}/delete-role", json={"roleName": "reader"})
    assert r.status_code == 400 and error_code(r) == "ROLE_IS_ASSIGNED_TO_MEMBERS"
    assert _assign(owner, member, "member").status_code == 200
    assert owner.post(f"{ORG}/delete-role", json={"roleName": "reader"}).status_code == 200


def test_renaming_a_role_carries_its_members(world):
    owner, member = world.user("a", "owner"), world.user("a", "member")
    owner.post(f"{ORG}/create-role", json={"role": "old-name", "permission": {"member": ["read"]}})
    assert _assign(owner, member, "old-name").status_code == 200
    try:
        r = owner.post(f"{ORG}/update-role", json={"roleName": "old-name", "data": {"roleName": "new-name"}})
        assert r.status_code == 200 and r.get_json()["roleData"]["role"] == "new-name"
        assert member.get(INVITATIONS).status_code == 200
    finally:
        assert _assign(owner, member, "member").status_code == 200
        owner.post(f"{ORG}/delete-role", json={"roleName": "new-name"})


@pytest.mark.parametrize("body,code", [
    ({"role": "admin", "permission": {"member": ["read"]}}, "ROLE_NAME_IS_ALREADY_TAKEN"),
    ({"role": "x", "permission": {"rocket": ["launch"]}}, "INVALID_RESOURCE"),
    ({"role": "x", "permission": {"member": ["launch"]}}, "INVALID_RESOURCE"),
    ({"role": "9lives", "permission": {}}, "INVALID_ROLE_NAME"),
])
def test_bad_roles_are_refused(world, body, code):
    r = world.user("a", "owner").post(f"{ORG}/create-role", json=body)
    assert r.status_code == 400 and error_code(r) == code


def test_unknown_and_built_in_roles_cannot_be_assigned_or_deleted(world):
    owner, member = world.user("a", "owner"), world.user("a", "member")
    r = _assign(owner, member, "ghost")
    assert r.status_code == 400 and error_code(r) == "ROLE_NOT_FOUND"
    r = owner.post(f"{ORG}/delete-role", json={"roleName": "owner"})
    assert r.status_code == 400 and error_code(r) == "CANNOT_DELETE_A_PRE_DEFINED_ROLE"


def test_a_member_cannot_create_roles(world):
    r = world.user("a", "member").post(f"{ORG}/create-role", json={"role": "mine", "permission": {}})
    assert r.status_code == 403 and error_code(r) == "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_ROLE"


def test_another_orgs_role_is_invisible_and_cannot_be_assigned(world):
    owner_a, owner_b, member_b = world.user("a", "owner"), world.user("b", "owner"), world.user("b", "member")
    r = owner_a.post(f"{ORG}/create-role", json={"role": "acme-only", "permission": {"member": ["read"]}})
    role_id = r.get_json()["roleData"]["id"]
    try:
        assert owner_b.get(f"{ORG}/list-roles").get_json() == []
        assert error_code(owner_b.get(f"{ORG}/get-role", query_string={"roleId": role_id})) == "ROLE_NOT_FOUND"
        assert error_code(_assign(owner_b, member_b, "acme-only")) == "ROLE_NOT_FOUND"
        r = owner_b.post(f"{ORG}/update-role", json={"roleId": role_id, "data": {"permission": {}}})
        assert error_code(r) == "ROLE_NOT_FOUND"
        assert error_code(owner_b.post(f"{ORG}/delete-role", json={"roleId": role_id})) == "ROLE_NOT_FOUND"
        assert _role(owner_a, "acme-only").get_json()["permission"] == {"member": ["read"]}
    finally:
        owner_a.post(f"{ORG}/delete-role", json={"roleName": "acme-only"})


def test_every_role_change_is_audited(world):
    owner = world.user("a", "owner")
    owner.post(f"{ORG}/create-role", json={"role": "audited", "permission": {"member": ["read"]}})
    owner.post(f"{ORG}/update-role", json={"roleName": "audited", "data": {"permission": {}}})
    owner.post(f"{ORG}/delete-role", json={"roleName": "audited"})
    entries = owner.get("/api/v1/admin/audit", query_string={"entity": "org_role"}).get_json()["data"]
    assert {"role.create", "role.update", "role.delete"} <= {e["action"] for e in entries}
