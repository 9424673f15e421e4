"""Member and invitation endpoints (Better Auth organization plugin paths).

Rules beyond the matrix: only an owner grants, changes or removes the owner
role; an org never has zero owners; invitations are logged with their link
at WARNING because no mail server is configured.

Managing people needs a person (`people_only`): an API key may list members
but not invite, change or remove anyone. A key acts for a machine; an
invitation or a membership it created would outlive the key's revocation (an
admin invitation to an address the key's holder controls is a new admin).
Removing a member, or a member leaving, revokes their keys and cancels their
live jobs and pending invitations; demoting one cancels their pending
invitations to a role above the new one (app/cascades.py).
"""
from __future__ import annotations

import logging
import uuid

from flask import Blueprint, g, jsonify
from flask.typing import ResponseReturnValue

from app import audit, cascades, orgs
from app.api import get_db, session_scope
from app.api.spec.schemas import MEMBER_OBJECT, obj, ref
from app.bodies.queries import MembersPage
from app.bodies.requests import AcceptInvitation, InviteMember, RemoveMember, UpdateMemberRole
from app.endpoint import endpoint
from app.errors.access import OnlyOwnerError
from app.errors.better_auth import (
    AlreadyInvitedError,
    AlreadyMemberError,
    BetterAuthError,
    InvitationNotFoundError,
    NotAllowedToDeleteMemberError,
    NotAllowedToInviteError,
    NotAllowedToInviteRoleError,
    NotAllowedToUpdateMemberError,
)
from app.http import session_switch
from app.http.context import services
from app.org_roles import store as role_store
from app.permissions import LOGIN, MEMBER, may_manage_owners, permission
from app.placement.router import off_control_plane

log = logging.getLogger("atlas.invitations")

bp = Blueprint("members", __name__, url_prefix="/api/auth/organization")


def as_uuid(value: object) -> uuid.UUID | None:
    """A UUID or None, for ids that may also be something else (an email)."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _owner_only(error: type[BetterAuthError]) -> None:
    if not may_manage_owners(g.identity.role):
        raise error()


def invitation_link(invitation_id: object) -> str:
    return f"{services().settings.http.public_url.rstrip('/')}/accept-invitation/{invitation_id}"


@bp.get("/list-members")
@endpoint(MEMBER, tag="members",
          response=obj(("members", "total"), members={"type": "array", "items": ref("Member")},
                     total={"type": "integer"}),
          query=MembersPage, control_plane=True)
def list_members(args: MembersPage) -> ResponseReturnValue:
    """The org's members (any member may list them)

    Any member sees who else is in the org (as in Better Auth); `limit` and `offset` page, `total` counts all.
    """
    ident = g.identity
    limit, offset = args.limit, args.offset
    with session_scope(read_only=True) as scope:
        rows = orgs.list_members(scope, ident.org_id, limit=limit, offset=offset)
        total = orgs.count_members(scope, ident.org_id)
    return {"members": [orgs.member_json(r) for r in rows], "total": total}


@bp.post("/invite-member")
@endpoint(permission("member", "create", refused_with=NotAllowedToInviteError),
          tag="members", body=InviteMember, response=ref("Invitation"), control_plane=True, people_only=True,
          idempotent=True)
def invite_member(body: InviteMember) -> ResponseReturnValue:
    """Invite by email (the link is logged: no mail server); a person's session only, not an API key.

    Invite by email; `resend: true` renews a pending invitation (a new expiry, the link logged again).
    """
    email, role = body.email, body.role
    if role == "owner":
        _owner_only(NotAllowedToInviteRoleError)
    ident = g.identity
    with session_scope() as scope:
        already = scope.fetch_value(
            "SELECT 1 FROM members m JOIN users u ON u.id = m.user_id"
            " WHERE m.org_id = %s AND u.email = %s", (ident.org_id, email))
        if already:
            raise AlreadyMemberError()
        pending = orgs.pending_invitation(scope, ident.org_id, email)
        if pending is not None and not body.resend:
            raise AlreadyInvitedError()
        if pending is not None:
            if pending["role"] == "owner":
                _owner_only(NotAllowedToInviteRoleError)
            row = orgs.renew_invitation(scope, ident.org_id, pending["id"])
            action = "invitation.resend"
        else:
            row = orgs.insert_invitation(scope, ident.org_id, email=email, role=role, inviter_id=ident.user_id)
            action = "invitation.create"
        org_name = orgs.get_org(scope, ident.org_id)["name"]
        audit.record(scope, action=action, entity="invitation", entity_id=row["id"],
                     changed_fields=("email", "role"), detail={"email": email, "role": row["role"]})
    log.warning("no mail server configured: invitation for %s to join %s as %s; share this link: %s",
                email, org_name, row["role"], invitation_link(row["id"]))
    return orgs.invitation_json(row)


@bp.post("/accept-invitation")
@endpoint(LOGIN, tag="members", body=AcceptInvitation,
          response=obj(invitation=ref("Invitation"), member=ref("Member")), control_plane=True, people_only=True)
def accept_invitation(body: AcceptInvitation) -> ResponseReturnValue:
    """Join the invitation's org; it becomes active (a fresh token, see set-active)

    Join the invitation's org and make it active, by a fresh session bound to it (see set-active).
    """
    invitation_id = body.invitationId
    ident, db = g.identity, get_db()
    with db.identity_transaction(user_id=ident.user_id) as scope:
        found = orgs.invitation_for_invitee(scope, invitation_id, ident.email)
    if found["status"] != "pending":
        raise InvitationNotFoundError()
    with db.transaction(found["org_id"], user_id=ident.user_id) as scope:
        row = scope.fetch_one(
            "UPDATE invitations SET status = 'accepted' WHERE org_id = %s AND id = %s"
            " AND status = 'pending' AND expires_at > now()"
            " RETURNING id, org_id, email, role, status, inviter_id, expires_at, created_at",
            (found["org_id"], invitation_id))
        if row is None:
            raise InvitationNotFoundError()
        member = orgs.insert_member(scope, found["org_id"], user_id=ident.user_id, role=row["role"])
        audit.record(scope, action="invitation.accept", entity="invitation", entity_id=invitation_id,
                     changed_fields=("status",))
        audit.record(scope, action="member.create", entity="member", entity_id=member["id"],
                     changed_fields=("role",), detail={"role": row["role"], "userId": str(ident.user_id)})
        new = session_switch.mint(scope, ident, found["org_id"])
    answer = jsonify({"invitation": orgs.invitation_json(row), "member": orgs.member_json(member)})
    return session_switch.hand_over(answer, new)


@bp.post("/update-member-role")
@endpoint(permission("member", "update", refused_with=NotAllowedToUpdateMemberError), tag="members",
          body=UpdateMemberRole, response=ref("Member"), control_plane=True, people_only=True)
def update_member_role(body: UpdateMemberRole) -> ResponseReturnValue:
    """Change a member's role (an org keeps at least one owner; a person's session only); a demotion cancels
    the member's pending invitations above the new role."""
    member_id, role = body.memberId, body.role
    ident = g.identity
    with session_scope() as scope:
        owners = orgs.lock_owners(scope, ident.org_id)
        target = orgs.find_member(scope, ident.org_id, member_id=member_id)
        if "owner" in (role, target["role"]) and role != target["role"]:
            _owner_only(NotAllowedToUpdateMemberError)
        # Nobody assigns a role holding a cell they lack, nor changes a member whose role does (custom roles).
        for held in (role, target["role"]):
            role_store.within_reach(ident, role_store.cells_of_role(scope, held, lock=held == role),
                                    refused_with=NotAllowedToUpdateMemberError)
        if role != "owner":
            orgs.keep_an_owner(owners, losing=target)
        scope.execute("UPDATE members SET role = %s WHERE org_id = %s AND id = %s",
                      (role, ident.org_id, member_id))
        audit.record(scope, action="member.update_role", entity="member", entity_id=member_id,
                     changed_fields=("role",), detail={"from": target["role"], "to": role})
        cascades.cancel_invitations(scope, reason="member.update_role", inviter_id=target["user_id"],
                                    above_role=role)
        updated = orgs.find_member(scope, ident.org_id, member_id=member_id)
    return orgs.member_json(updated)


@bp.post("/remove-member")
@endpoint(permission("member", "delete", refused_with=NotAllowedToDeleteMemberError), tag="members",
          body=RemoveMember, response=MEMBER_OBJECT, control_plane=True, people_only=True)
def remove_member(body: RemoveMember) -> ResponseReturnValue:
    """Remove a member by id or email (not the last owner; a person's session only); revokes their API keys,
    cancels their live jobs and pending invitations."""
    key = body.key()
    ident = g.identity
    member_id = as_uuid(key)
    email = None if member_id else str(key).lower()
    with session_scope() as scope:  # find_member locks the row: not a read-only transaction
        leaving = orgs.find_member(scope, ident.org_id, member_id=member_id, email=email)["user_id"]
    jobs = _live_jobs_of(leaving)  # one transaction at a time: an org's pool may hold a single connection
    with session_scope() as scope:
        owners = orgs.lock_owners(scope, ident.org_id)
        target = orgs.find_member(scope, ident.org_id, member_id=member_id, email=email)
        if target["role"] == "owner":
            _owner_only(NotAllowedToDeleteMemberError)
        orgs.keep_an_owner(owners, losing=target, error=OnlyOwnerError)
        scope.execute("DELETE FROM members WHERE org_id = %s AND id = %s", (ident.org_id, target["id"]))
        audit.record(scope, action="member.delete", entity="member", entity_id=target["id"],
                     detail={"userId": str(target["user_id"]), "role": target["role"]})
        cascades.cancel_invitations(scope, reason="member.delete", inviter_id=target["user_id"])
    _stop_work_of(target["user_id"], reason="member.delete", job_ids=jobs)
    return {"member": orgs.member_json(target)}


@bp.post("/leave")
@endpoint(MEMBER, tag="members", response=ref("Member"), control_plane=True, people_only=True)
def leave() -> ResponseReturnValue:
    """Leave the session's org (not the last owner); the member that left; their API keys, live jobs and
    pending invitations end with it.

    Leave the session's org (the last owner cannot); the answer is the member that left, as in Better Auth.
    """
    ident = g.identity
    jobs = _live_jobs_of(ident.user_id)
    with session_scope() as scope:
        owners = orgs.lock_owners(scope, ident.org_id)
        me = orgs.find_member(scope, ident.org_id, email=ident.email)
        orgs.keep_an_owner(owners, losing=me, error=OnlyOwnerError)
        scope.execute("DELETE FROM members WHERE org_id = %s AND id = %s", (ident.org_id, me["id"]))
        audit.record(scope, action="member.leave", entity="member", entity_id=me["id"],
                     detail={"userId": str(ident.user_id), "role": me["role"]})
        cascades.cancel_invitations(scope, reason="member.leave", inviter_id=ident.user_id)
    _stop_work_of(ident.user_id, reason="member.leave", job_ids=jobs)
    return orgs.member_json(me)


def _live_jobs_of(user_id: uuid.UUID) -> list[uuid.UUID]:
    """Read before the member goes: deleting the member clears their jobs' created_by."""
    with off_control_plane(), session_scope(read_only=True) as scope:
        return cascades.live_jobs_of(scope, user_id)


def _stop_work_of(user_id: uuid.UUID, *, reason: str, job_ids: list[uuid.UUID]) -> None:
    """After a member left: their keys and live jobs, where the org is placed (a second transaction)."""
    with off_control_plane(), session_scope() as scope:
        cascades.stop_members_work(scope, user_id=user_id, revoked_by=g.identity.user_id, reason=reason,
                                   job_ids=job_ids)
