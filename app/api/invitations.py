"""Invitation endpoints besides invite and accept (Better Auth organization plugin paths).

The org's side (list, cancel) runs in the session's org. The invitee's side
(list their own, get, reject) reads invitations by the user's email, which is
what the invitations policy admits without an org; the invitation's org name
and inviter are read in a read-only transaction of that org, as
accept-invitation writes in it, once the invitation is known to be theirs.
Someone else's invitation is indistinguishable from a missing one.
"""
from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, g, jsonify
from flask.typing import ResponseReturnValue

from app import audit, orgs
from app.api import get_db, session_scope
from app.api.spec.schemas import INVITATION_IN_ORG, obj, ref
from app.bodies.queries import InvitationById
from app.bodies.requests import AcceptInvitation
from app.endpoint import endpoint
from app.errors.better_auth import (
    InvitationNotFoundError,
    InviterGoneError,
    NotAllowedToCancelInvitationError,
    NotAllowedToListInvitationsError,
)
from app.permissions import LOGIN, may_manage_owners, permission

bp = Blueprint("invitations", __name__, url_prefix="/api/auth/organization")


def _mine(invitation_id: uuid.UUID, *, pending: bool = True) -> dict[str, Any]:
    """The caller's own invitation (pending and unexpired unless `pending` is False), else INVITATION_NOT_FOUND."""
    ident = g.identity
    with get_db().identity_transaction(user_id=ident.user_id) as scope:
        row = orgs.invitation_for_invitee(scope, invitation_id, ident.email)
        live = scope.fetch_value("SELECT %s > now()", (row["expires_at"],))
    if pending and (row["status"] != "pending" or not live):
        raise InvitationNotFoundError()
    return row


def _invitation_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise InvitationNotFoundError() from None


@bp.get("/list-invitations")
@endpoint(permission("member", "read", refused_with=NotAllowedToListInvitationsError), tag="invitations",
          response={"type": "array", "items": ref("Invitation")}, control_plane=True)
def list_invitations() -> ResponseReturnValue:
    """The session org's invitations."""
    ident = g.identity
    with session_scope(read_only=True) as scope:
        rows = orgs.list_invitations(scope, ident.org_id)
    return jsonify([orgs.invitation_json(r) for r in rows])


@bp.get("/list-user-invitations")
@endpoint(LOGIN, tag="invitations", response={"type": "array", "items": INVITATION_IN_ORG}, control_plane=True,
          people_only=True)
def list_user_invitations() -> ResponseReturnValue:
    """The caller's pending invitations, with each org's name."""
    ident, db = g.identity, get_db()
    with db.identity_transaction(user_id=ident.user_id) as scope:
        rows = scope.fetch_all(
            orgs.invitations_sql("SELECT {c} FROM invitations WHERE email = %s AND status = 'pending'"
                                 " AND expires_at > now() ORDER BY created_at, id"), (ident.email,))
    answer = []
    for row in rows:
        with db.transaction(row["org_id"], user_id=ident.user_id, read_only=True) as scope:
            name = orgs.get_org(scope, row["org_id"])["name"]
        answer.append(orgs.invitation_json(row) | {"organizationName": name})
    return jsonify(answer)


@bp.get("/get-invitation")
@endpoint(LOGIN, tag="invitations",
          response={"allOf": [ref("Invitation"), obj(organizationName={"type": "string"},
                                                   organizationSlug={"type": "string"},
                                                   inviterEmail={"type": "string"})]},
          query=InvitationById, control_plane=True, people_only=True)
def get_invitation(args: InvitationById) -> ResponseReturnValue:
    """One of the caller's pending invitations, with org name, slug and inviter email."""
    row = _mine(_invitation_id(args.id or ""))
    with get_db().transaction(row["org_id"], user_id=g.identity.user_id, read_only=True) as scope:
        org = orgs.get_org(scope, row["org_id"])
        inviter = scope.fetch_value(
            "SELECT u.email FROM members m JOIN users u ON u.id = m.user_id WHERE m.org_id = %s AND m.user_id = %s",
            (row["org_id"], row["inviter_id"]))
    if inviter is None:
        raise InviterGoneError()
    return orgs.invitation_json(row) | {"organizationName": org["name"], "organizationSlug": org["slug"],
                                        "inviterEmail": inviter}


@bp.post("/reject-invitation")
@endpoint(LOGIN, tag="invitations", body=AcceptInvitation,
          response=obj(invitation=ref("Invitation"), member={"type": "object", "nullable": True}),
          control_plane=True, people_only=True)
def reject_invitation(body: AcceptInvitation) -> ResponseReturnValue:
    """Decline one of the caller's invitations."""
    invitation_id = body.invitationId
    row = _mine(invitation_id)
    with get_db().transaction(row["org_id"], user_id=g.identity.user_id) as scope:
        rejected = scope.fetch_one(
            orgs.invitations_sql("UPDATE invitations SET status = 'rejected'"
                                 " WHERE org_id = %s AND id = %s AND status = 'pending' RETURNING {c}"), (row["org_id"], invitation_id))
        if rejected is None:
            raise InvitationNotFoundError()
        audit.record(scope, action="invitation.reject", entity="invitation", entity_id=invitation_id,
                     changed_fields=("status",))
    return {"invitation": orgs.invitation_json(rejected), "member": None}


@bp.post("/cancel-invitation")
@endpoint(permission("member", "create", refused_with=NotAllowedToCancelInvitationError),
          tag="invitations", body=AcceptInvitation, response=ref("Invitation"), control_plane=True,
          people_only=True)
def cancel_invitation(body: AcceptInvitation) -> ResponseReturnValue:
    """Withdraw a pending invitation of the session's org (a person's session only)

    Withdraw a pending invitation of the session's org (whoever may invite may withdraw).
    """
    invitation_id = body.invitationId
    ident = g.identity
    with session_scope() as scope:
        canceled = scope.fetch_one(
            orgs.invitations_sql("UPDATE invitations SET status = 'canceled'"
                                 " WHERE org_id = %s AND id = %s AND status = 'pending' RETURNING {c}"), (ident.org_id, invitation_id))
        if canceled is None:
            raise InvitationNotFoundError()
        if canceled["role"] == "owner" and not may_manage_owners(ident.role):
            raise NotAllowedToCancelInvitationError()
        audit.record(scope, action="invitation.cancel", entity="invitation", entity_id=invitation_id,
                     changed_fields=("status",))
    return orgs.invitation_json(canceled)
