"""The Better Auth endpoints added for its official client (issue 13): sessions, account, invitations, org reads.

Kept apart from app/openapi/operations.py, which merges them in.
"""
from __future__ import annotations

from app.bodies import auth_requests as a
from app.bodies import requests as r
from app.openapi.op import Op
from app.openapi.schemas import NULLABLE_UUID, ROLE, STAMP, UUID, Schema, obj, ref

STATUS: Schema = obj(("status",), status={"type": "boolean"})
SESSION: Schema = obj(
    ("id", "token", "userId", "expiresAt"), id=UUID,
    token={"type": "string", "nullable": True,
           "description": "the caller's own token for its session; for the others, a revocation handle"},
    userId=UUID, activeOrganizationId=NULLABLE_UUID, activeTeamId=NULLABLE_UUID, role={**ROLE, "nullable": True}, expiresAt=STAMP,
    createdAt=STAMP, updatedAt=STAMP, ipAddress={"type": "string", "nullable": True},
    userAgent={"type": "string", "nullable": True})
_INVITATION_IN_ORG: Schema = {"allOf": [ref("Invitation"), obj(organizationName={"type": "string"})]}

# (METHOD, OpenAPI path) -> Op
AUTH_OPERATIONS: dict[tuple[str, str], Op] = {
    ("GET", "/api/auth/list-sessions"): Op(
        summary="The user's live sessions, newest first", access="login", tag="sessions",
        response={"type": "array", "items": SESSION}),
    ("POST", "/api/auth/revoke-session"): Op(
        summary="Revoke one of the user's sessions by its token (or listed handle)", access="login",
        tag="sessions", body=a.RevokeSession, response=STATUS),
    ("POST", "/api/auth/revoke-sessions"): Op(
        summary="Revoke every session of the user, this one included", access="login", tag="sessions",
        response=STATUS),
    ("POST", "/api/auth/revoke-other-sessions"): Op(
        summary="Revoke every session of the user but this one", access="login", tag="sessions", response=STATUS),
    ("POST", "/api/auth/update-user"): Op(
        summary="Change the user's name", access="login", tag="account", body=a.UpdateUser, response=STATUS),
    ("POST", "/api/auth/change-password"): Op(
        summary="Change the password; revokeOtherSessions ends every session and hands over a fresh one",
        access="login", tag="account", body=a.ChangePassword,
        response=obj(("user",), token={"type": "string", "nullable": True}, user=ref("User"))),
    ("POST", "/api/auth/request-password-reset"): Op(
        summary="Send (or log) a reset link; the same answer whether or not the email has an account;"
                " 429 RATE_LIMITED with Retry-After when requests for the email or from the address come too often",
        access="public", tag="account", body=a.RequestPasswordReset,
        response=obj(("status",), status={"type": "boolean"}, message={"type": "string"})),
    ("GET", "/api/auth/reset-password/{token}"): Op(
        summary="The emailed link: a redirect to callbackURL with ?token= or ?error=INVALID_TOKEN",
        access="public", tag="account", status=302, response=None,
        query=(("callbackURL", {"type": "string"}),)),
    ("POST", "/api/auth/reset-password"): Op(
        summary="Set a new password with a reset token (once, within an hour); every session is revoked",
        access="public", tag="account", body=a.ResetPassword, response=STATUS),
    ("POST", "/api/auth/organization/check-slug"): Op(
        summary="Is the slug free? (400 ORGANIZATION_SLUG_ALREADY_TAKEN if not)", access="login",
        tag="organizations", body=a.CheckSlug, response=STATUS),
    ("GET", "/api/auth/organization/get-organization"): Op(
        summary="The session's org without members (null without one)", access="login", tag="organizations",
        query=(("organizationSlug", {"type": "string", "maxLength": 63}),),
        response={**ref("Organization"), "nullable": True}),
    ("GET", "/api/auth/organization/get-active-member"): Op(
        summary="The caller's membership in the session's org", access="member", tag="members",
        response=ref("Member")),
    ("GET", "/api/auth/organization/get-active-member-role"): Op(
        summary="The caller's (or userId's) role in the session's org", access="member", tag="members",
        query=(("userId", UUID),), response=obj(("role",), role=ROLE)),
    ("POST", "/api/auth/organization/has-permission"): Op(
        summary="May the caller's role do all these actions? (Atlas's matrix)", access="login",
        tag="members", body=a.HasPermission,
        response=obj(("success",), success={"type": "boolean"}, error={"type": "string", "nullable": True})),
    ("GET", "/api/auth/organization/list-invitations"): Op(
        summary="The session org's invitations", access="member:read", tag="invitations",
        response={"type": "array", "items": ref("Invitation")}),
    ("GET", "/api/auth/organization/list-user-invitations"): Op(
        summary="The caller's pending invitations, with each org's name", access="login", tag="invitations",
        response={"type": "array", "items": _INVITATION_IN_ORG}),
    ("GET", "/api/auth/organization/get-invitation"): Op(
        summary="One of the caller's pending invitations, with org name, slug and inviter email",
        access="login", tag="invitations", query=(("id", UUID),),
        response={"allOf": [ref("Invitation"), obj(organizationName={"type": "string"},
                                                   organizationSlug={"type": "string"},
                                                   inviterEmail={"type": "string"})]}),
    ("POST", "/api/auth/organization/reject-invitation"): Op(
        summary="Decline one of the caller's invitations", access="login", tag="invitations",
        body=r.AcceptInvitation,
        response=obj(invitation=ref("Invitation"), member={"type": "object", "nullable": True})),
    ("POST", "/api/auth/organization/cancel-invitation"): Op(
        summary="Withdraw a pending invitation of the session's org (a person's session only)", access="member:create",
        tag="invitations", body=r.AcceptInvitation, response=ref("Invitation")),
}
