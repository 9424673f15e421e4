"""One class per Better Auth code that /api/auth answers with, as its client compares them.

Each code Atlas answers with is a subclass here (raise the class, never a code string); the message
is Better Auth's (app/better_auth_codes.py) unless one is given. An Atlas refusal that Better Auth
also has carries `auth_code` instead, in its own family (app/errors/access.py LastOwnerError).
"""
from __future__ import annotations

from app.better_auth_codes import MESSAGES
from app.errors import AtlasError


class BetterAuthError(AtlasError):
    """A refusal only /api/auth answers, in Better Auth's words: its code, status and message.

    Each code Atlas answers with is a subclass below (raise the class, never a code string); the
    message is Better Auth's (app/better_auth_codes.py) unless one is given.
    """

    status = 400
    code = "VALIDATION_ERROR"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or MESSAGES.get(self.code, self.code))


class BetterAuthForbiddenError(BetterAuthError):
    """A Better Auth refusal answered 403."""

    status = 403


# Better Auth's codes, one class each (the organization plugin's and the core's, as its client compares them).
class OrganizationNotFoundError(BetterAuthError):
    code = "ORGANIZATION_NOT_FOUND"


class OrganizationExistsError(BetterAuthError):
    code = "ORGANIZATION_ALREADY_EXISTS"


class SlugTakenError(BetterAuthError):
    code = "ORGANIZATION_SLUG_ALREADY_TAKEN"


class MemberNotFoundError(BetterAuthError):
    code = "MEMBER_NOT_FOUND"


class AlreadyMemberError(BetterAuthError):
    code = "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION"


class AlreadyInvitedError(BetterAuthError):
    code = "USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION"


class InvitationNotFoundError(BetterAuthError):
    code = "INVITATION_NOT_FOUND"


class InviterGoneError(BetterAuthError):
    code = "INVITER_IS_NO_LONGER_A_MEMBER_OF_THE_ORGANIZATION"


class PasswordTooShortError(BetterAuthError):
    code = "PASSWORD_TOO_SHORT"


class PasswordTooLongError(BetterAuthError):
    code = "PASSWORD_TOO_LONG"


class InvalidPasswordError(BetterAuthError):
    code = "INVALID_PASSWORD"


class EmailUnchangeableError(BetterAuthError):
    code = "EMAIL_CAN_NOT_BE_UPDATED"


class InvalidTokenError(BetterAuthError):
    code = "INVALID_TOKEN"


class InvalidCredentialsError(BetterAuthError):
    status = 401
    code = "INVALID_EMAIL_OR_PASSWORD"


class InvalidRedirectUrlError(BetterAuthForbiddenError):
    code = "INVALID_REDIRECT_URL"


class InvalidCallbackUrlError(BetterAuthForbiddenError):
    code = "INVALID_CALLBACK_URL"


class NotAMemberError(BetterAuthForbiddenError):
    code = "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION"


class UserNotMemberError(BetterAuthForbiddenError):
    code = "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION"


class NotAllowedToUpdateOrganizationError(BetterAuthForbiddenError):
    code = "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION"


class NotAllowedToDeleteOrganizationError(BetterAuthForbiddenError):
    code = "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_ORGANIZATION"


class NotAllowedToInviteError(BetterAuthForbiddenError):
    code = "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION"


class NotAllowedToInviteRoleError(BetterAuthForbiddenError):
    code = "YOU_ARE_NOT_ALLOWED_TO_INVITE_USER_WITH_THIS_ROLE"


class NotAllowedToUpdateMemberError(BetterAuthForbiddenError):
    code = "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER"


class NotAllowedToDeleteMemberError(BetterAuthForbiddenError):
    code = "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER"


class NotAllowedToListInvitationsError(BetterAuthForbiddenError):
    code = "YOU_ARE_NOT_ALLOWED_TO_LIST_INVITATIONS"


class NotAllowedToCancelInvitationError(BetterAuthForbiddenError):
    code = "YOU_ARE_NOT_ALLOWED_TO_CANCEL_THIS_INVITATION"


# Custom roles (Better Auth's dynamic access control, app/org_roles).
class RoleNotFoundError(BetterAuthError):
    code = "ROLE_NOT_FOUND"


class RoleNameTakenError(BetterAuthError):
    code = "ROLE_NAME_IS_ALREADY_TAKEN"


class InvalidRoleNameError(BetterAuthError):
    code = "INVALID_ROLE_NAME"


class InvalidResourceError(BetterAuthError):
    code = "INVALID_RESOURCE"


class TooManyRolesError(BetterAuthError):
    code = "TOO_MANY_ROLES"


class RoleInUseError(BetterAuthError):
    code = "ROLE_IS_ASSIGNED_TO_MEMBERS"


class PredefinedRoleError(BetterAuthError):
    code = "CANNOT_DELETE_A_PRE_DEFINED_ROLE"


class NotAllowedToCreateRoleError(BetterAuthForbiddenError):
    code = "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_ROLE"


class NotAllowedToUpdateRoleError(BetterAuthForbiddenError):
    code = "YOU_ARE_NOT_ALLOWED_TO_UPDATE_A_ROLE"


class NotAllowedToDeleteRoleError(BetterAuthForbiddenError):
    code = "YOU_ARE_NOT_ALLOWED_TO_DELETE_A_ROLE"


class NotAllowedToReadRoleError(BetterAuthForbiddenError):
    code = "YOU_ARE_NOT_ALLOWED_TO_READ_A_ROLE"


class NotAllowedToListRolesError(BetterAuthForbiddenError):
    code = "YOU_ARE_NOT_ALLOWED_TO_LIST_A_ROLE"


# Teams (app/teams).
class TeamNotFoundError(BetterAuthError):
    code = "TEAM_NOT_FOUND"


class TeamExistsError(BetterAuthError):
    code = "TEAM_ALREADY_EXISTS"


class TooManyTeamsError(BetterAuthError):
    code = "YOU_HAVE_REACHED_THE_MAXIMUM_NUMBER_OF_TEAMS"


class NotInTeamError(BetterAuthError):
    code = "USER_IS_NOT_A_MEMBER_OF_THE_TEAM"


class NotInTeamForbiddenError(BetterAuthForbiddenError):
    """Setting as active a team one is not in (Better Auth answers this one 403)."""

    code = "USER_IS_NOT_A_MEMBER_OF_THE_TEAM"


class NoActiveTeamError(BetterAuthError):
    code = "YOU_DO_NOT_HAVE_AN_ACTIVE_TEAM"


class NotAllowedToCreateTeamsError(BetterAuthForbiddenError):
    code = "YOU_ARE_NOT_ALLOWED_TO_CREATE_TEAMS_IN_THIS_ORGANIZATION"


class NotAllowedToDeleteTeamsError(BetterAuthForbiddenError):
    code = "YOU_ARE_NOT_ALLOWED_TO_DELETE_TEAMS_IN_THIS_ORGANIZATION"


class NotAllowedToUpdateTeamError(BetterAuthForbiddenError):
    code = "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_TEAM"


class NotAllowedToAddTeamMemberError(BetterAuthForbiddenError):
    code = "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_NEW_TEAM_MEMBER"


class NotAllowedToRemoveTeamMemberError(BetterAuthForbiddenError):
    code = "YOU_ARE_NOT_ALLOWED_TO_REMOVE_A_TEAM_MEMBER"


class DomainVerifiedError(BetterAuthError):
    """verify-domain or request-domain-verification for a provider whose domains are verified already."""

    status = 409
    code = "DOMAIN_VERIFIED"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "Domain has already been verified")


class InvalidErrorCallbackUrlError(BetterAuthForbiddenError):
    code = "INVALID_ERROR_CALLBACK_URL"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "Invalid errorCallbackURL")


class InvalidNewUserCallbackUrlError(BetterAuthForbiddenError):
    code = "INVALID_NEW_USER_CALLBACK_URL"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "Invalid newUserCallbackURL")
