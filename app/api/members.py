"""Member and invitation endpoints (Better Auth organization plugin paths).

Rules beyond the matrix: only an owner grants, changes or removes the owner
role; an org never has zero owners; invitations are logged with their link
at WARNING because no mail server is configured.
"""
from __future__ import annotations

import logging
import uuid

from flask import Blueprint, current_app, g
from flask.typing import ResponseReturnValue

from app import audit, orgs
from app.api import get_db
from app.bodies import body
from app.bodies.requests import AcceptInvitation, InviteMember, RemoveMember, UpdateMemberRole
from app.errors import ConflictError, ForbiddenError, ValidationError
from app.idempotency import idempotent
from app.permissions import login_required, member_required, people_only, require
from app.placement.router import on_control_plane

log = logging.getLogger("atlas.invitations")

bp = Blueprint("members", __name__, url_prefix="/api/auth/organization")


def as_uuid(value: object) -> uuid.UUID | None:
    """A UUID or None, for ids that may also be something else (an email)."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _owner_only(message: str) -> None:
    if g.identity.role != "owner":
        raise ForbiddenError(message)


@bp.get("/list-members")
@on_control_plane
@require("member", "read")
def list_members() -> ResponseReturnValue:
    ident = g.identity
    with get_db().transaction(ident.org_id, user_id=ident.user_id, read_only=True) as scope:
        rows = orgs.list_members(scope, ident.org_id)
    return {"members": [orgs.member_json(r) for r in rows], "total": len(rows)}


@bp.post("/invite-member")
@on_control_plane
@require("member", "create")
@idempotent()
def invite_member() -> ResponseReturnValue:
    invite = body(InviteMember)
    email, role = invite.email, invite.role
    if role == "owner":
        _owner_only("only an owner may invite an owner")
    ident = g.identity
    with get_db().transaction(ident.org_id, user_id=ident.user_id) as scope:
        already = scope.fetch_value(
            "SELECT 1 FROM members m JOIN users u ON u.id = m.user_id"
            " WHERE m.org_id = %s AND u.email = %s", (ident.org_id, email))
        if already:
            raise ConflictError(f"{email} is already a member of this organization")
        if orgs.pending_invitation(scope, ident.org_id, email) is not None:
            raise ConflictError(f"{email} already has a pending invitation to this organization")
        row = orgs.insert_invitation(scope, ident.org_id, email=email, role=role, inviter_id=ident.user_id)
        org_name = orgs.get_org(scope, ident.org_id)["name"]
        audit.record(scope, action="invitation.create", entity="invitation", entity_id=row["id"],
                     changed_fields=("email", "role"), detail={"email": email, "role": role})
    link = f"{str(current_app.config['PUBLIC_URL']).rstrip('/')}/accept-invitation/{row['id']}"
    log.warning("no mail server configured: invitation for %s to join %s as %s; share this link: %s",
                email, org_name, role, link)
    return orgs.invitation_json(row)


@bp.post("/accept-invitation")
@on_control_plane
@login_required
@people_only
def accept_invitation() -> ResponseReturnValue:
    """Join the invitation's org; the session stays on its org (set-active switches)."""
    invitation_id = body(AcceptInvitation).invitationId
    ident, db = g.identity, get_db()
    with db.identity_transaction(user_id=ident.user_id) as scope:
        found = orgs.invitation_for_invitee(scope, invitation_id, ident.email)
    if found["status"] != "pending":
        raise ConflictError(f"this invitation is already {found['status']}")
    with db.transaction(found["org_id"], user_id=ident.user_id) as scope:
        row = scope.fetch_one(
            "UPDATE invitations SET status = 'accepted' WHERE org_id = %s AND id = %s"
            " AND status = 'pending' AND expires_at > now()"
            " RETURNING id, org_id, email, role, status, inviter_id, expires_at, created_at",
            (found["org_id"], invitation_id))
        if row is None:
            raise ValidationError("this invitation has expired; ask for a new one")
        member = orgs.insert_member(scope, found["org_id"], user_id=ident.user_id, role=row["role"])
        audit.record(scope, action="invitation.accept", entity="invitation", entity_id=invitation_id,
                     changed_fields=("status",))
        audit.record(scope, action="member.create", entity="member", entity_id=member["id"],
                     changed_fields=("role",), detail={"role": row["role"], "userId": str(ident.user_id)})
    return {"invitation": orgs.invitation_json(row), "member": orgs.member_json(member)}


@bp.post("/update-member-role")
@on_control_plane
@require("member", "update")
def update_member_role() -> ResponseReturnValue:
    change = body(UpdateMemberRole)
    member_id, role = change.memberId, change.role
    ident = g.identity
    with get_db().transaction(ident.org_id, user_id=ident.user_id) as scope:
        owners = orgs.lock_owners(scope, ident.org_id)
        target = orgs.find_member(scope, ident.org_id, member_id=member_id)
        if "owner" in (role, target["role"]) and role != target["role"]:
            _owner_only("only an owner may grant or take away the owner role")
        if role != "owner":
            orgs.keep_an_owner(owners, losing=target)
        scope.execute("UPDATE members SET role = %s WHERE org_id = %s AND id = %s",
                      (role, ident.org_id, member_id))
        audit.record(scope, action="member.update_role", entity="member", entity_id=member_id,
                     changed_fields=("role",), detail={"from": target["role"], "to": role})
        updated = orgs.find_member(scope, ident.org_id, member_id=member_id)
    return orgs.member_json(updated)


@bp.post("/remove-member")
@on_control_plane
@require("member", "delete")
def remove_member() -> ResponseReturnValue:
    key = body(RemoveMember).key()
    ident = g.identity
    member_id = as_uuid(key)
    with get_db().transaction(ident.org_id, user_id=ident.user_id) as scope:
        owners = orgs.lock_owners(scope, ident.org_id)
        target = orgs.find_member(scope, ident.org_id, member_id=member_id,
                                  email=None if member_id else str(key).lower())
        if target["role"] == "owner":
            _owner_only("only an owner may remove an owner")
        orgs.keep_an_owner(owners, losing=target)
        scope.execute("DELETE FROM members WHERE org_id = %s AND id = %s", (ident.org_id, target["id"]))
        audit.record(scope, action="member.delete", entity="member", entity_id=target["id"],
                     detail={"userId": str(target["user_id"]), "role": target["role"]})
    return {"member": orgs.member_json(target)}


@bp.post("/leave")
@on_control_plane
@member_required
@people_only
def leave() -> ResponseReturnValue:
    """Leave the session's org (the last owner cannot)."""
    ident = g.identity
    with get_db().transaction(ident.org_id, user_id=ident.user_id) as scope:
        owners = orgs.lock_owners(scope, ident.org_id)
        me = orgs.find_member(scope, ident.org_id, email=ident.email)
        orgs.keep_an_owner(owners, losing=me)
        scope.execute("DELETE FROM members WHERE org_id = %s AND id = %s", (ident.org_id, me["id"]))
        audit.record(scope, action="member.leave", entity="member", entity_id=me["id"],
                     detail={"userId": str(ident.user_id), "role": me["role"]})
    return {"member": orgs.member_json(me)}
