"""Organizations, members and invitations: Better Auth shapes, owner protections, cross-org refusals, audit."""
from __future__ import annotations

import logging
import uuid

import psycopg
import pytest

from app.auth import COOKIE_NAME
from tests.support.api import create_org, sign_up
from tests.support.errors import error_of

ORG = "/api/auth/organization"


def _admin(db):  # type: ignore[no-untyped-def]
    return psycopg.connect(db.admin_url, autocommit=True)


def _snapshot(db, org_id) -> dict:  # type: ignore[no-untyped-def]
    """Everything org-level about one org, for 'unchanged' checks."""
    with _admin(db) as conn:
        return {
            "org": conn.execute("SELECT name, slug, logo, metadata FROM organizations WHERE id = %s",
                                (org_id,)).fetchall(),
            "members": conn.execute("SELECT id, user_id, role FROM members WHERE org_id = %s ORDER BY id",
                                    (org_id,)).fetchall(),
            "invitations": conn.execute("SELECT id, email, role, status FROM invitations WHERE org_id = %s"
                                        " ORDER BY id", (org_id,)).fetchall(),
        }


def _audit(db, org_id, action: str) -> list[tuple]:  # type: ignore[no-untyped-def]
    with _admin(db) as conn:
        return conn.execute(
            "SELECT actor_user_id, entity_id, changed_fields, outcome, request_id FROM audit_log"
            " WHERE org_id = %s AND action = %s ORDER BY occurred_at", (org_id, action)).fetchall()


# ----- create, list, get -----

def test_create_makes_the_creator_owner_in_better_auth_shape(api_app, fresh_db):
    user = sign_up(api_app, "founder@example.test")
    r = user.post(f"{ORG}/create", json={"name": "Initech", "slug": "initech"})
    assert r.status_code == 200
    body = r.get_json()
    assert {"id", "name", "slug", "createdAt"} <= body.keys()
    assert (body["name"], body["slug"]) == ("Initech", "initech")
    [member] = body["members"]
    assert member["role"] == "owner" and member["userId"] == str(user.user_id)
    assert set(member) == {"id", "organizationId", "userId", "role", "createdAt", "user"}
    assert member["user"] == {"id": str(user.user_id), "name": "founder", "email": "founder@example.test",
                              "image": None}
    assert body["createdAt"].endswith("Z") and len(body["createdAt"]) == len("2026-01-02T03:04:05.678Z")
    # the new org is active at once, through a fresh session handed over as header and cookie
    fresh = r.headers["set-auth-token"]
    assert f"{COOKIE_NAME}={fresh}" in r.headers["Set-Cookie"]
    session = user.get("/api/auth/get-session", headers={"Authorization": f"Bearer {fresh}"}).get_json()
    assert session["session"]["activeOrganizationId"] == body["id"] and session["session"]["role"] == "owner"
    assert _audit(fresh_db, uuid.UUID(body["id"]), "organization.create")[0][0] == user.user_id


def test_a_taken_slug_is_400_organization_already_exists(two_orgs):
    user = sign_up(two_orgs.app, "late@example.test")
    r = user.post(f"{ORG}/create", json={"name": "Acme Two", "slug": "acme"})
    assert r.status_code == 400
    assert error_of(r) == {"code": "ORGANIZATION_ALREADY_EXISTS", "message": "Organization already exists"}


def test_a_bad_slug_is_a_field_error(api_app):
    r = sign_up(api_app, "x@example.test").post(f"{ORG}/create", json={"name": "X", "slug": "Not A Slug"})
    assert r.status_code == 400 and set(error_of(r)["fields"]) == {"slug"}


def test_list_shows_only_your_organizations(two_orgs):
    user = sign_up(two_orgs.app, "multi@example.test")
    create_org(user, "Mine", "mine")
    listed = user.get(f"{ORG}/list").get_json()
    assert [o["slug"] for o in listed] == ["mine"]
    assert [o["slug"] for o in two_orgs.user("b", "member").get(f"{ORG}/list").get_json()] == ["globex"]


def test_full_organization_lists_invitations_only_for_roles_that_may_read_members(two_orgs):
    two_orgs.user("a", "admin").post(f"{ORG}/invite-member", json={"email": "pending@x.test", "role": "member"})
    as_admin = two_orgs.user("a", "admin").get(f"{ORG}/get-full-organization").get_json()
    assert as_admin["id"] == str(two_orgs.org_a)
    assert sorted(m["role"] for m in as_admin["members"]) == ["admin", "member", "owner"]
    assert [i["email"] for i in as_admin["invitations"] if i["status"] == "pending"] == ["pending@x.test"]
    as_member = two_orgs.user("a", "member").get(f"{ORG}/get-full-organization").get_json()
    assert as_member["slug"] == "acme" and len(as_member["members"]) == 3 and as_member["invitations"] == []


# ----- invitations -----

def test_an_invitation_is_logged_with_its_link(two_orgs, caplog):
    with caplog.at_level(logging.WARNING, logger="atlas.invitations"):
        r = two_orgs.user("a", "admin").post(f"{ORG}/invite-member",
                                             json={"email": "New@Example.test", "role": "member"})
    assert r.status_code == 200
    inv = r.get_json()
    assert (inv["email"], inv["role"], inv["status"]) == ("new@example.test", "member", "pending")
    assert inv["organizationId"] == str(two_orgs.org_a)
    assert f"/accept-invitation/{inv['id']}" in caplog.text and "new@example.test" in caplog.text


def test_inviting_a_member_or_reinviting_is_refused_unless_resent(two_orgs):
    admin = two_orgs.user("a", "admin")
    r = admin.post(f"{ORG}/invite-member", json={"email": "member@acme.test", "role": "member"})
    assert r.status_code == 400 and error_of(r)["code"] == "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION"
    first = admin.post(f"{ORG}/invite-member", json={"email": "twice@x.test", "role": "member"}).get_json()
    r = admin.post(f"{ORG}/invite-member", json={"email": "twice@x.test", "role": "admin"})
    assert r.status_code == 400 and error_of(r)["code"] == "USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION"
    r = admin.post(f"{ORG}/invite-member", json={"email": "twice@x.test", "role": "member", "resend": True})
    assert r.status_code == 200 and r.get_json()["id"] == first["id"]
    assert r.get_json()["expiresAt"] >= first["expiresAt"]
    assert len(_audit(two_orgs.db, two_orgs.org_a, "invitation.resend")) == 1


def test_only_an_owner_invites_an_owner(two_orgs):
    body = {"email": "boss@x.test", "role": "owner"}
    assert two_orgs.user("a", "admin").post(f"{ORG}/invite-member", json=body).status_code == 403
    assert two_orgs.user("a", "owner").post(f"{ORG}/invite-member", json=body).status_code == 200


def test_an_invitation_is_accepted_only_by_its_invitee_and_once(two_orgs):
    inv = two_orgs.user("a", "owner").post(f"{ORG}/invite-member",
                                           json={"email": "invitee@x.test", "role": "admin"}).get_json()
    stranger = sign_up(two_orgs.app, "stranger@x.test")
    r = stranger.post(f"{ORG}/accept-invitation", json={"invitationId": inv["id"]})
    assert r.status_code == 400 and error_of(r)["code"] == "INVITATION_NOT_FOUND"
    invitee = sign_up(two_orgs.app, "invitee@x.test")
    r = invitee.post(f"{ORG}/accept-invitation", json={"invitationId": inv["id"]})
    assert r.status_code == 200
    assert r.get_json()["member"]["role"] == "admin" and r.get_json()["invitation"]["status"] == "accepted"
    assert invitee.post(f"{ORG}/accept-invitation", json={"invitationId": inv["id"]}).status_code == 400


def test_an_expired_invitation_cannot_be_accepted(two_orgs):
    inv = two_orgs.user("a", "owner").post(f"{ORG}/invite-member",
                                           json={"email": "slow@x.test", "role": "member"}).get_json()
    with _admin(two_orgs.db) as conn:
        conn.execute("UPDATE invitations SET expires_at = now() - interval '1 minute' WHERE id = %s", (inv["id"],))
    slow = sign_up(two_orgs.app, "slow@x.test")
    r = slow.post(f"{ORG}/accept-invitation", json={"invitationId": inv["id"]})
    assert r.status_code == 400 and error_of(r)["code"] == "INVITATION_NOT_FOUND"


# ----- roles and the last owner -----

def test_last_owner_cannot_be_demoted_removed_or_leave(two_orgs):
    owner = two_orgs.user("a", "owner")
    before = _snapshot(two_orgs.db, two_orgs.org_a)
    for path, body, code in (
        ("update-member-role", {"memberId": str(owner.member_id), "role": "admin"},
         "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER"),
        ("remove-member", {"memberIdOrEmail": owner.email}, "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER"),
        ("leave", {}, "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER"),
    ):
        r = owner.post(f"{ORG}/{path}", json=body)
        assert r.status_code == 400, path
        assert error_of(r)["code"] == code
    assert _snapshot(two_orgs.db, two_orgs.org_a) == before


def test_with_a_second_owner_the_first_may_step_down(two_orgs):
    owner, admin = two_orgs.user("a", "owner"), two_orgs.user("a", "admin")
    assert owner.post(f"{ORG}/update-member-role",
                      json={"memberId": str(admin.member_id), "role": "owner"}).status_code == 200
    r = owner.post(f"{ORG}/update-member-role", json={"memberId": str(owner.member_id), "role": "member"})
    assert r.status_code == 200 and r.get_json()["role"] == "member"
    # now the former admin is the last owner
    assert admin.post(f"{ORG}/leave", json={}).status_code == 400


def test_admins_cannot_touch_the_owner_role(two_orgs):
    admin, owner, member = (two_orgs.user("a", r) for r in ("admin", "owner", "member"))
    assert admin.post(f"{ORG}/update-member-role",
                      json={"memberId": str(member.member_id), "role": "owner"}).status_code == 403
    assert admin.post(f"{ORG}/update-member-role",
                      json={"memberId": str(owner.member_id), "role": "admin"}).status_code == 403
    assert admin.post(f"{ORG}/remove-member", json={"memberIdOrEmail": owner.email}).status_code == 403


def test_role_changes_and_removals_are_audited(two_orgs):
    owner, member = two_orgs.user("a", "owner"), two_orgs.user("a", "member")
    r = owner.post(f"{ORG}/update-member-role", json={"memberId": str(member.member_id), "role": "admin"},
                   headers={"X-Request-Id": "req-role-1"})
    assert r.headers["X-Request-Id"] == "req-role-1"
    assert _audit(two_orgs.db, two_orgs.org_a, "member.update_role") == [
        (owner.user_id, str(member.member_id), ["role"], "ok", "req-role-1")]
    owner.post(f"{ORG}/remove-member", json={"memberIdOrEmail": member.email})
    assert len(_audit(two_orgs.db, two_orgs.org_a, "member.delete")) == 1


def test_a_member_may_leave(two_orgs):
    member = two_orgs.user("a", "member")
    assert member.post(f"{ORG}/leave", json={}).status_code == 200
    assert all(m[1] != member.user_id for m in _snapshot(two_orgs.db, two_orgs.org_a)["members"])


# ----- update and delete -----

def test_owner_updates_the_organization(two_orgs):
    owner = two_orgs.user("a", "owner")
    r = owner.post(f"{ORG}/update", json={"data": {"name": "Acme Corp", "slug": "acme-corp"}})
    assert r.status_code == 200 and (r.get_json()["name"], r.get_json()["slug"]) == ("Acme Corp", "acme-corp")
    assert _audit(two_orgs.db, two_orgs.org_a, "organization.update")[0][2] == ["name", "slug"]
    r = owner.post(f"{ORG}/update", json={"data": {"slug": "globex"}})
    assert r.status_code == 400 and error_of(r)["code"] == "ORGANIZATION_SLUG_ALREADY_TAKEN"


def test_owner_deletes_the_organization_and_the_other_org_is_untouched(two_orgs):
    before_b = _snapshot(two_orgs.db, two_orgs.org_b)
    owner = two_orgs.user("a", "owner")
    r = owner.post(f"{ORG}/delete", json={"organizationId": str(two_orgs.org_a)})
    assert r.status_code == 200 and r.get_json()["id"] == str(two_orgs.org_a)
    assert _snapshot(two_orgs.db, two_orgs.org_a)["org"] == []
    assert owner.get("/api/auth/get-session").get_json()["session"]["activeOrganizationId"] is None
    assert _snapshot(two_orgs.db, two_orgs.org_b) == before_b


# ----- the org comes from the session alone -----

def _cross_org_attempts(b_member_id: str, b_email: str):  # type: ignore[no-untyped-def]
    return [
        ("post", "invite-member", {"email": "spy@x.test", "role": "member", "organizationId": "{B}"}),
        ("post", "update-member-role", {"memberId": b_member_id, "role": "owner", "organizationId": "{B}"}),
        ("post", "remove-member", {"memberIdOrEmail": b_email, "organizationId": "{B}"}),
        ("post", "update", {"data": {"name": "Pwned"}, "organizationId": "{B}"}),
        ("post", "update", {"data": {"name": "Pwned", "organizationId": "{B}"}}),
        ("post", "delete", {"organizationId": "{B}"}),
        ("post", "leave", {"organizationId": "{B}"}),
        ("get", "get-full-organization?organizationId={B}", None),
        ("get", "list-members?organizationId={B}", None),
        ("get", "get-full-organization?organizationSlug=globex", None),
    ]


@pytest.mark.parametrize("index", range(10))
def test_naming_another_org_is_refused_audited_and_changes_nothing(two_orgs, index):
    owner_b = two_orgs.user("b", "owner")
    method, path, body = _cross_org_attempts(str(owner_b.member_id), owner_b.email)[index]
    b = str(two_orgs.org_b)
    path = path.replace("{B}", b)
    if body is not None:
        body = {k: (v.replace("{B}", b) if isinstance(v, str) else v) for k, v in body.items()}
        if "data" in body:
            body["data"] = {k: v.replace("{B}", b) for k, v in body["data"].items()}
    before = _snapshot(two_orgs.db, two_orgs.org_b)
    attacker = two_orgs.user("a", "owner")  # the most privileged role in A
    r = getattr(attacker, method)(f"{ORG}/{path}", json=body) if body is not None else attacker.get(f"{ORG}/{path}")
    assert r.status_code == 403, r.get_json()
    assert error_of(r)["code"] == "CROSS_ORG_REFUSED"
    assert _snapshot(two_orgs.db, two_orgs.org_b) == before
    [refusal] = _audit(two_orgs.db, two_orgs.org_a, "cross_org.refused")
    assert refusal[0] == attacker.user_id and refusal[3] == "refused"
    assert _audit(two_orgs.db, two_orgs.org_b, "cross_org.refused") == []


def test_naming_your_own_org_is_fine(two_orgs):
    admin = two_orgs.user("a", "admin")
    r = admin.post(f"{ORG}/invite-member",
                   json={"email": "ok@x.test", "role": "member", "organizationId": str(two_orgs.org_a)})
    assert r.status_code == 200
    r = admin.get(f"{ORG}/get-full-organization?organizationId={two_orgs.org_a}")
    assert r.status_code == 200


def test_a_member_id_of_another_org_is_not_found(two_orgs):
    """Without naming the org, B's member id is simply not in A: 400 MEMBER_NOT_FOUND, B unchanged."""
    before = _snapshot(two_orgs.db, two_orgs.org_b)
    owner_a, owner_b = two_orgs.user("a", "owner"), two_orgs.user("b", "owner")
    r = owner_a.post(f"{ORG}/update-member-role", json={"memberId": str(owner_b.member_id), "role": "member"})
    assert r.status_code == 400 and error_of(r)["code"] == "MEMBER_NOT_FOUND"
    r = owner_a.post(f"{ORG}/remove-member", json={"memberIdOrEmail": owner_b.email})
    assert r.status_code == 400 and error_of(r)["code"] == "MEMBER_NOT_FOUND"
    assert _snapshot(two_orgs.db, two_orgs.org_b) == before


def test_accepting_an_invitation_hands_over_a_session_of_the_new_org_and_keeps_the_old(two_orgs):
    user = two_orgs.user("a", "member")
    inv = two_orgs.user("b", "owner").post(f"{ORG}/invite-member",
                                           json={"email": user.email, "role": "member"}).get_json()
    r = user.post(f"{ORG}/accept-invitation", json={"invitationId": inv["id"]})
    assert r.status_code == 200
    fresh = user.get("/api/auth/get-session", headers={"Authorization": f"Bearer {r.headers['set-auth-token']}"})
    assert fresh.get_json()["session"]["activeOrganizationId"] == str(two_orgs.org_b)
    session = user.get("/api/auth/get-session").get_json()["session"]  # the presented token: still on its org
    assert session["activeOrganizationId"] == str(two_orgs.org_a)
    assert [o["slug"] for o in user.get(f"{ORG}/list").get_json()] == ["acme", "globex"]


def test_two_owners_demoting_each_other_at_once_leave_one_owner(two_orgs):
    from concurrent.futures import ThreadPoolExecutor

    owner, admin = two_orgs.user("a", "owner"), two_orgs.user("a", "admin")
    owner.post(f"{ORG}/update-member-role", json={"memberId": str(admin.member_id), "role": "owner"})
    admin.role = "owner"
    calls = [(owner, admin.member_id), (admin, owner.member_id)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(pool.map(
            lambda c: c[0].post(f"{ORG}/update-member-role",
                                json={"memberId": str(c[1]), "role": "member"}).status_code, calls))
    # 400 (last owner) if both passed the role check before either committed; 403 if the loser was already demoted.
    assert statuses in ([200, 400], [200, 403])
    roles = [m[2] for m in _snapshot(two_orgs.db, two_orgs.org_a)["members"]]
    assert roles.count("owner") == 1
