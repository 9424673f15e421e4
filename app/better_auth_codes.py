"""Better Auth's error codes and messages (better-auth 1.7.25, `$ERROR_CODES`), as its client expects them.

Answers under /api/auth carry these upper-snake codes with Better Auth's own
messages and statuses, so an application's `error.code` comparisons and
translations work unchanged; /api/v1 keeps Atlas's documented lower-case codes.
Each code Atlas answers with is an error class in app/errors/ that names
it (`code` for Better Auth-only refusals, `auth_code` for Atlas refusals that
Better Auth also has). Only the codes Atlas can answer with are listed (copied from
`@better-auth/core/dist/error/codes.mjs` and
`better-auth/dist/plugins/organization/error-codes.mjs`).
"""
from __future__ import annotations

MESSAGES: dict[str, str] = {
    # core
    "USER_NOT_FOUND": "User not found",
    "INVALID_PASSWORD": "Invalid password",
    "INVALID_EMAIL_OR_PASSWORD": "Invalid email or password",
    "INVALID_TOKEN": "Invalid token",
    "PASSWORD_TOO_SHORT": "Password too short",
    "PASSWORD_TOO_LONG": "Password too long",
    "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL": "User already exists. Use another email.",
    "EMAIL_CAN_NOT_BE_UPDATED": "Email can not be updated",
    "FAILED_TO_GET_SESSION": "Failed to get session",
    "INVALID_ORIGIN": "Invalid origin",
    "MISSING_OR_NULL_ORIGIN": "Missing or null Origin",
    "INVALID_CALLBACK_URL": "Invalid callbackURL",
    "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED":
        "Cross-site navigation login blocked. This request appears to be a CSRF attack.",
    "INVALID_REDIRECT_URL": "Invalid redirectURL",
    "VALIDATION_ERROR": "Validation Error",
    "UNAUTHORIZED": "Unauthorized",
    # organization plugin
    "ORGANIZATION_ALREADY_EXISTS": "Organization already exists",
    "ORGANIZATION_SLUG_ALREADY_TAKEN": "Organization slug already taken",
    "ORGANIZATION_NOT_FOUND": "Organization not found",
    "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION": "User is not a member of the organization",
    "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION": "You are not allowed to update this organization",
    "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_ORGANIZATION": "You are not allowed to delete this organization",
    "NO_ACTIVE_ORGANIZATION": "No active organization",
    "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION": "User is already a member of this organization",
    "MEMBER_NOT_FOUND": "Member not found",
    "ROLE_NOT_FOUND": "Role not found",
    "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER": "You cannot leave the organization as the only owner",
    "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER": "You cannot leave the organization without an owner",
    "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER": "You are not allowed to delete this member",
    "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION":
        "You are not allowed to invite users to this organization",
    "USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION": "User is already invited to this organization",
    "INVITATION_NOT_FOUND": "Invitation not found",
    "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION": "You are not the recipient of the invitation",
    "YOU_ARE_NOT_ALLOWED_TO_CANCEL_THIS_INVITATION": "You are not allowed to cancel this invitation",
    "YOU_ARE_NOT_ALLOWED_TO_LIST_INVITATIONS": "You are not allowed to list invitations for this organization",
    "INVITER_IS_NO_LONGER_A_MEMBER_OF_THE_ORGANIZATION": "Inviter is no longer a member of the organization",
    "YOU_ARE_NOT_ALLOWED_TO_INVITE_USER_WITH_THIS_ROLE": "You are not allowed to invite a user with this role",
    "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER": "You are not allowed to update this member",
    "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION": "You are not a member of this organization",
    # dynamic access control (custom roles, app/org_roles)
    "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_ROLE": "You are not allowed to create a role",
    "YOU_ARE_NOT_ALLOWED_TO_UPDATE_A_ROLE": "You are not allowed to update a role",
    "YOU_ARE_NOT_ALLOWED_TO_DELETE_A_ROLE": "You are not allowed to delete a role",
    "YOU_ARE_NOT_ALLOWED_TO_READ_A_ROLE": "You are not allowed to read a role",
    "YOU_ARE_NOT_ALLOWED_TO_LIST_A_ROLE": "You are not allowed to list a role",
    "TOO_MANY_ROLES": "This organization has too many roles",
    "INVALID_RESOURCE": "The provided permission includes an invalid resource",
    "ROLE_NAME_IS_ALREADY_TAKEN": "That role name is already taken",
    "CANNOT_DELETE_A_PRE_DEFINED_ROLE": "Cannot delete a pre-defined role",
    "ROLE_IS_ASSIGNED_TO_MEMBERS":
        "Cannot delete a role that is assigned to members. Please reassign the members to a different role first",
    "INVALID_ROLE_NAME": "Invalid role name",
    # teams (app/teams)
    "TEAM_NOT_FOUND": "Team not found",
    "TEAM_ALREADY_EXISTS": "Team already exists",
    "YOU_HAVE_REACHED_THE_MAXIMUM_NUMBER_OF_TEAMS": "You have reached the maximum number of teams",
    "YOU_ARE_NOT_ALLOWED_TO_CREATE_TEAMS_IN_THIS_ORGANIZATION":
        "You are not allowed to create teams in this organization",
    "YOU_ARE_NOT_ALLOWED_TO_DELETE_TEAMS_IN_THIS_ORGANIZATION":
        "You are not allowed to delete teams in this organization",
    "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_TEAM": "You are not allowed to update this team",
    "USER_IS_NOT_A_MEMBER_OF_THE_TEAM": "User is not a member of the team",
    "YOU_CAN_NOT_ACCESS_THE_MEMBERS_OF_THIS_TEAM": "You are not allowed to list the members of this team",
    "YOU_DO_NOT_HAVE_AN_ACTIVE_TEAM": "You do not have an active team",
    "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_NEW_TEAM_MEMBER": "You are not allowed to create a new member",
    "YOU_ARE_NOT_ALLOWED_TO_REMOVE_A_TEAM_MEMBER": "You are not allowed to remove a team member",
}
