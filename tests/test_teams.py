"""Teams (Better Auth's shapes), the session's activeTeamId, and conversations shared with a team: who reads
them, and the attacks (another org's team, a member outside the team) with the victim's rows unchanged.

The sharing rule (app/teams/sharing.py): a conversation without a team is the whole org's; one with a team is
read by the team's members, its creator and the org's owners and admins; anyone else gets the 404 of a missing
conversation.
"""
from __future__ import annotations

import uuid

import pytest

from app.agent import conversation as agent_conversation
from app.errors import NotFoundError
from app.http.context import services
from tests.support.api import create_team, invite_and_join, sign_up, two_org_world
from tests.support.errors import error_code

ORG = "/api/auth/organization"
CONVERSATIONS = "/api/v1/conversations"


@pytest.fixture(scope="module")
def world(db_factory):
    with two_org_world(db_factory) as world:
        outsider = sign_up(world.app, "outsider@acme.test")
        invite_and_join(world.user("a", "owner"), outsider, "member")
        world.users[("a", "outsider")] = outsider
        yield world


def _readable(user, conversation_id):
    listed = {c["id"] for c in user.get(CONVERSATIONS, query_string={"limit": 100}).get_json()["data"]}
    status = user.get(f"{CONVERSATIONS}/{conversation_id}").status_code
    assert (status == 200) == (conversation_id in listed), (status, listed)
    return status == 200


def test_teams_are_created_listed_renamed_and_removed_in_better_auths_shapes(world):
    admin, member = world.user("a", "admin"), world.user("a", "member")
    team = create_team(world.user("a", "admin"), "Shapes")
    assert set(team) == {"id", "name", "organizationId", "createdAt", "updatedAt"}
    assert team["organizationId"] == str(world.org("a"))
    assert "Shapes" in {t["name"] for t in member.get(f"{ORG}/list-teams").get_json()}
    r = admin.post(f"{ORG}/update-team", json={"teamId": team["id"], "data": {"name": "Renamed"}})
    assert r.status_code == 200 and r.get_json()["name"] == "Renamed"
    r = admin.post(f"{ORG}/create-team", json={"name": "Renamed"})
    assert r.status_code == 400 and error_code(r) == "TEAM_ALREADY_EXISTS"
    assert admin.post(f"{ORG}/remove-team", json={"teamId": team["id"]}).get_json() == {
        "message": "Team removed successfully."}
    assert "Renamed" not in {t["name"] for t in member.get(f"{ORG}/list-teams").get_json()}


def test_a_member_cannot_manage_teams(world):
    member = world.user("a", "member")
    r = member.post(f"{ORG}/create-team", json={"name": "Mine"})
    assert r.status_code == 403 and error_code(r) == "YOU_ARE_NOT_ALLOWED_TO_CREATE_TEAMS_IN_THIS_ORGANIZATION"
    team = create_team(world.user("a", "admin"), "Guarded")
    r = member.post(f"{ORG}/add-team-member", json={"teamId": team["id"], "userId": str(member.user_id)})
    assert r.status_code == 403 and error_code(r) == "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_NEW_TEAM_MEMBER"
    r = member.post(f"{ORG}/remove-team", json={"teamId": team["id"]})
    assert r.status_code == 403
    assert world.user("a", "admin").get(f"{ORG}/list-team-members", query_string={"teamId": team["id"]}).get_json() == []


def test_team_members_and_the_active_team(world):
    member, outsider = world.user("a", "member"), world.user("a", "outsider")
    team = create_team(world.user("a", "admin"), "Core", member)
    listed = member.get(f"{ORG}/list-team-members", query_string={"teamId": team["id"]}).get_json()
    assert [(m["teamId"], m["userId"]) for m in listed] == [(team["id"], str(member.user_id))]
    r = outsider.get(f"{ORG}/list-team-members", query_string={"teamId": team["id"]})
    assert r.status_code == 400 and error_code(r) == "USER_IS_NOT_A_MEMBER_OF_THE_TEAM"
    assert team["id"] in {t["id"] for t in member.get(f"{ORG}/list-user-teams").get_json()}
    assert outsider.get(f"{ORG}/list-user-teams").get_json() == []

    r = outsider.post(f"{ORG}/set-active-team", json={"teamId": team["id"]})
    assert r.status_code == 403 and error_code(r) == "USER_IS_NOT_A_MEMBER_OF_THE_TEAM"
    r = member.post(f"{ORG}/set-active-team", json={"teamId": team["id"]})
    assert r.status_code == 200 and r.get_json()["id"] == team["id"]
    assert member.get("/api/auth/get-session").get_json()["session"]["activeTeamId"] == team["id"]
    assert [m["userId"] for m in member.get(f"{ORG}/list-team-members").get_json()] == [str(member.user_id)]
    assert member.post(f"{ORG}/set-active-team", json={"teamId": None}).get_json() is None
    assert member.get("/api/auth/get-session").get_json()["session"]["activeTeamId"] is None
    r = member.get(f"{ORG}/list-team-members")
    assert r.status_code == 400 and error_code(r) == "YOU_DO_NOT_HAVE_AN_ACTIVE_TEAM"


def test_a_team_conversation_is_read_by_its_team_and_managers_only(world):
    member, outsider = world.user("a", "member"), world.user("a", "outsider")
    admin, owner = world.user("a", "admin"), world.user("a", "owner")
    team = create_team(world.user("a", "admin"), "Secret", member)
    r = member.post(CONVERSATIONS, json={"title": "team plans", "teamId": team["id"]})
    assert r.status_code == 201, r.get_json()
    shared = r.get_json()["id"]
    assert r.get_json()["team_id"] == team["id"]
    everyone = member.post(CONVERSATIONS, json={"title": "for all"}).get_json()["id"]

    assert _readable(member, shared) and _readable(admin, shared) and _readable(owner, shared)
    assert not _readable(outsider, shared) and _readable(outsider, everyone)
    r = outsider.post(f"{CONVERSATIONS}/{shared}/messages", json={"content": "let me in"})
    assert r.status_code == 404
    r = outsider.post(f"{CONVERSATIONS}/{shared}/team", json={"teamId": None})  # widening it: refused as missing
    assert r.status_code == 404
    with world.app.app_context():  # an ask checks the same rule before its first model call (app/agent)
        with pytest.raises(NotFoundError):
            agent_conversation.require(services().db, world.org("a"), uuid.UUID(shared), user_id=outsider.user_id)
        agent_conversation.require(services().db, world.org("a"), uuid.UUID(shared), user_id=member.user_id)
    assert [m["content"] for m in member.get(f"{CONVERSATIONS}/{shared}").get_json()["messages"]] == []
    assert member.get(f"{CONVERSATIONS}/{shared}").get_json()["team_id"] == team["id"]

    admin.post(f"{ORG}/add-team-member", json={"teamId": team["id"], "userId": str(outsider.user_id)})
    assert _readable(outsider, shared)
    admin.post(f"{ORG}/remove-team-member", json={"teamId": team["id"], "userId": str(outsider.user_id)})
    assert not _readable(outsider, shared)

    # removing the team narrows its conversations to their creator and the managers, never widens them
    admin.post(f"{ORG}/add-team-member", json={"teamId": team["id"], "userId": str(outsider.user_id)})
    assert admin.post(f"{ORG}/remove-team", json={"teamId": team["id"]}).status_code == 200
    assert not _readable(outsider, shared) and _readable(member, shared) and _readable(admin, shared)


def test_only_the_creator_or_a_manager_reshares_and_only_to_their_own_team(world):
    member, outsider, admin = world.user("a", "member"), world.user("a", "outsider"), world.user("a", "admin")
    theirs = create_team(world.user("a", "admin"), "Theirs", outsider)
    mine = create_team(world.user("a", "admin"), "Mine", member)
    conversation = member.post(CONVERSATIONS, json={"title": "c"}).get_json()["id"]
    r = member.post(f"{CONVERSATIONS}/{conversation}/team", json={"teamId": theirs["id"]})
    assert r.status_code == 403
    r = outsider.post(f"{CONVERSATIONS}/{conversation}/team", json={"teamId": theirs["id"]})
    assert r.status_code == 403  # not the creator (the conversation is the whole org's, so it is visible)
    r = member.post(f"{CONVERSATIONS}/{conversation}/team", json={"teamId": mine["id"]})
    assert r.status_code == 200 and r.get_json()["team_id"] == mine["id"]
    assert admin.post(f"{CONVERSATIONS}/{conversation}/team", json={"teamId": theirs["id"]}).status_code == 200
    assert _readable(outsider, conversation)


def test_another_orgs_team_cannot_be_reached(world):
    owner_b, member_b = world.user("b", "owner"), world.user("b", "member")
    team = create_team(world.user("a", "admin"), "Acme Only", world.user("a", "member"))
    for path, body in (("add-team-member", {"teamId": team["id"], "userId": str(member_b.user_id)}),
                       ("remove-team-member", {"teamId": team["id"], "userId": str(world.user("a", "member").user_id)}),
                       ("update-team", {"teamId": team["id"], "data": {"name": "Stolen"}}),
                       ("remove-team", {"teamId": team["id"]})):
        r = owner_b.post(f"{ORG}/{path}", json=body)
        assert r.status_code == 400 and error_code(r) == "TEAM_NOT_FOUND", (path, r.get_json())
    r = owner_b.get(f"{ORG}/list-team-members", query_string={"teamId": team["id"]})
    assert error_code(r) == "TEAM_NOT_FOUND"
    assert error_code(member_b.post(f"{ORG}/set-active-team", json={"teamId": team["id"]})) == "TEAM_NOT_FOUND"
    r = owner_b.post(CONVERSATIONS, json={"title": "x", "teamId": team["id"]})
    assert r.status_code == 404
    # the victim's team: unchanged
    teams = {t["id"]: t["name"] for t in world.user("a", "owner").get(f"{ORG}/list-teams").get_json()}
    assert teams[team["id"]] == "Acme Only"
    listed = world.user("a", "admin").get(f"{ORG}/list-team-members", query_string={"teamId": team["id"]}).get_json()
    assert [m["userId"] for m in listed] == [str(world.user("a", "member").user_id)]


def test_leaving_the_org_leaves_every_team(world):
    owner = world.user("a", "owner")
    leaving = sign_up(world.app, "leaving@acme.test")
    invite_and_join(owner, leaving, "member")
    team = create_team(world.user("a", "admin"), "Temporary", leaving)
    assert owner.post(f"{ORG}/remove-member", json={"memberIdOrEmail": leaving.email}).status_code == 200
    assert owner.get(f"{ORG}/list-team-members", query_string={"teamId": team["id"]}).get_json() == []


def test_every_team_change_is_audited(world):
    team = create_team(world.user("a", "admin"), "Audited", world.user("a", "member"))
    admin = world.user("a", "admin")
    admin.post(f"{ORG}/update-team", json={"teamId": team["id"], "data": {"name": "Audited 2"}})
    admin.post(f"{ORG}/remove-team", json={"teamId": team["id"]})
    entries = admin.get("/api/v1/admin/audit", query_string={"entity": "team", "limit": 100}).get_json()["data"]
    assert {"team.create", "team.member_add", "team.update", "team.delete"} <= {e["action"] for e in entries}
