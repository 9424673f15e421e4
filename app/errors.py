"""Atlas's error hierarchy: each error knows its HTTP status and a stable code.

The API maps these to one JSON shape in one place; everything else raises them.
"""
from __future__ import annotations

from app.better_auth_codes import MESSAGES


class AtlasError(Exception):
    """Base of every error Atlas raises on purpose."""

    status = 500
    code = "internal_error"
    # Under /api/auth, for Better Auth's client: its code (and status, when it differs) for this refusal;
    # without one, the code is upper-cased there (app/http/errors.py).
    auth_code = ""
    auth_status = 0
    # Seconds a client should wait before retrying; rendered as the Retry-After header.
    retry_after_s: int | None = None

    def __init__(self, message: str, *, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ConfigurationError(AtlasError):
    """A setting is missing or malformed; the message names the setting."""

    code = "configuration_error"


class MissingOrgError(AtlasError):
    """Tenant data was asked for without an org: refused before any SQL is sent."""

    code = "missing_org"


class MigrationError(AtlasError):
    """A migration could not be applied, or an applied file was edited."""

    code = "migration_error"


class ValidationError(AtlasError):
    """Input failed validation; `details["fields"]` maps field names to messages."""

    status = 400
    code = "validation_error"


class UnauthorizedError(AtlasError):
    """No valid session."""

    status = 401
    code = "unauthorized"


class ForbiddenError(AtlasError):
    """The session may not do this."""

    status = 403
    code = "forbidden"


class NotFoundError(AtlasError):
    """No such row in the session's org (another org's row is indistinguishable)."""

    status = 404
    code = "not_found"


class ConflictError(AtlasError):
    """The change collides with existing data (a taken slug, a duplicate name)."""

    status = 409
    code = "conflict"


class ServiceUnavailableError(AtlasError):
    """The database or a pool cannot serve the request right now; worth retrying shortly."""

    status = 503
    code = "service_unavailable"
    retry_after_s = 1


class SqlRejectedError(AtlasError):
    """Agent SQL parsed but is not allowed; the message names the offending construct."""

    status = 400
    code = "sql_rejected"


class SqlInvalidError(AtlasError):
    """Agent SQL could not be parsed (or is empty) by both sqlglot and PostgreSQL."""

    status = 400
    code = "sql_invalid"


class QueryTimeoutError(SqlRejectedError):
    """Agent SQL ran past its statement timeout (query.statement_timeout_ms).

    A client error, not 408 (clients and proxies retry 408 automatically) nor
    5xx: the same query would time out again; narrow it or raise the setting.
    """

    code = "query_timeout"


class RateLimitedError(AtlasError):
    """A budget is spent for now (an org's queries, password-reset requests); `retry_after_s` says when to come back."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int = 1, details: dict | None = None) -> None:
        super().__init__(message, details=details)
        self.retry_after_s = max(1, int(retry_after_s))


class PoolCapacityExceededError(ServiceUnavailableError):
    """No org pool slot or connection capacity came free in time; the message names the settings
    that decide how many orgs fit at once (pool.perOrg.maxConnections, maxOrgs, maxTotalConnections)."""

    code = "pool_capacity_exceeded"


class UnprocessableError(AtlasError):
    """Well-formed input that cannot be acted on (e.g. signing up an existing email)."""

    status = 422
    code = "unprocessable"


class UserExistsError(UnprocessableError):
    """Signing up with an email that already has an account (Better Auth answers 422)."""

    code = "user_already_exists"
    auth_code = "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"

    def __init__(self, message: str = MESSAGES[auth_code]) -> None:
        super().__init__(message)


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


class OriginRefusedError(ForbiddenError):
    """A cookie-authenticated unsafe request came from an untrusted origin, or named none (app/http/origins.py)."""

    code = "invalid_origin"

    def __init__(self, *, missing: bool, code: str = "") -> None:
        self.code = code or ("missing_or_null_origin" if missing else "invalid_origin")
        super().__init__(MESSAGES[self.code.upper()])


class LastOwnerError(ConflictError):
    """The change would leave an organization without an owner."""

    code = "last_owner"
    auth_code, auth_status = "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER", 400

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or MESSAGES[self.auth_code])


class OnlyOwnerError(LastOwnerError):
    """The only owner would leave (or be removed from) the organization."""

    auth_code = "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER"


class CrossOrgRefusedError(ForbiddenError):
    """A request named an organization other than the session's."""

    code = "cross_org_refused"


class ApiKeyRefusedError(ForbiddenError):
    """An API key called an endpoint only a person's session may call (switching orgs, minting keys)."""

    code = "api_key_not_allowed"


class NoActiveOrganizationError(ForbiddenError):
    """The session has no org (or the user is no longer a member of it)."""

    code = "no_active_organization"
    auth_code, auth_status = "NO_ACTIVE_ORGANIZATION", 400


class AccessUndeclaredError(AtlasError):
    """A view declared no access rule: a programming error, refused."""

    code = "access_undeclared"


class DatabaseUnavailableError(ServiceUnavailableError):
    """The database cannot be reached (down, restarting, refusing connections): not a pool-size problem."""

    code = "database_unavailable"


class DatabaseReadOnlyError(DatabaseUnavailableError):
    """A write reached a server that takes none (a standby: a failover is under way); retry (app/failover)."""

    code = "database_read_only"


class ReplicaUnavailableError(ServiceUnavailableError):
    """The agent replica cannot run the query (unreachable, too far behind, or a recovery conflict)."""

    code = "agent_replica_unavailable"

    def __init__(self, message: str, *, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, int(retry_after_s))


class DatabaseTimeoutError(ServiceUnavailableError):
    """The database did not answer a read in time (app/db/wire.py): the connection was closed, retry."""

    code = "database_timeout"


class IdempotencyKeyReusedError(AtlasError):
    """An Idempotency-Key came back with a different request (another body, path or method)."""

    status = 422
    code = "idempotency_key_reused"


class IdempotencyInFlightError(ConflictError):
    """A request with this Idempotency-Key is still being processed; retry after it finishes."""

    code = "idempotency_in_flight"
    retry_after_s = 1


class SignInThrottledError(RateLimitedError):
    """Too many sign-in attempts for an account or from an address; `retry_after_s` says when to retry."""

    code = "sign_in_throttled"


class TooManyConcurrentQueriesError(RateLimitedError):
    """The org already has its limit of agent queries running (setting queryMaxInFlight).

    Answered at once, never queued: the client retries after `retry_after_s`.
    """

    code = "too_many_concurrent_queries"


class AgentPlatformBusyError(ServiceUnavailableError):
    """Every org together already runs ATLAS_QUERY_MAX_IN_FLIGHT_TOTAL agent queries: refused at once."""

    code = "agent_platform_busy"

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, int(retry_after_s))


class AgentCapacityError(ServiceUnavailableError):
    """This worker's share of threads for agent work (ATLAS_AGENT_THREADS_PER_WORKER) is busy: refused at
    once, so agent work never takes the threads CRM, auth and admin requests need."""

    code = "agent_capacity_exhausted"


class RedisUnavailableError(ServiceUnavailableError):
    """Redis failed, timed out, or its circuit is open; callers fall back (cache miss, PostgreSQL limits)."""

    code = "redis_unavailable"


class SemanticLayerInvalidError(AtlasError):
    """The org's stored semantic layer holds an entity that no longer validates; the message names it and
    the repair (PUT or DELETE it). The request is fine and the org's state is not, hence 409."""

    status = 409
    code = "semantic_layer_invalid"


class PlainYamlError(ValidationError):
    """Entity YAML that is not YAML of plain kinds (bad syntax, too deep, or tagged); `line` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class ConnectionHostRefusedError(ValidationError):
    """An org connection names a host the platform does not allow (ATLAS_CONNECTION_ALLOWED_HOSTS)."""

    code = "connection_host_not_allowed"


class ConnectionsConfigurationError(ConfigurationError):
    """Org connections cannot work on this server as configured (no key, an unusable environment); names the setting.

    503 rather than a generic 500: the answer tells the org's admin what the operator must set."""

    status = 503


class ConnectionFailedError(ServiceUnavailableError):
    """An org's own datasource could not be reached or refused the login; the message says why, never the password."""

    code = "connection_failed"


class OrgMovingError(ServiceUnavailableError):
    """The org's writes are held while `atlas org move` switches its database; retry shortly."""

    code = "org_moving"
    retry_after_s = 1


class MoveError(AtlasError):
    """`atlas org move` cannot go on (a check failed); the org is still served from where it was."""

    code = "move_error"


class JobStateError(ConflictError):
    """The job is not in a state that allows this (cancel a finished job, retry a queued one)."""

    code = "job_state_conflict"


class JobStoppedError(AtlasError):
    """A running job lost its lease or was canceled: the worker (app/jobs) stops it at its next progress
    report or heartbeat and writes nothing more."""

    code = "job_stopped"


class AgentNotConfiguredError(AtlasError):
    """Ask needs a model server: ATLAS_AGENT_BASE_URL and ATLAS_AGENT_MODEL are not set (SQL mode still works)."""

    status = 409
    code = "agent_not_configured"


class AgentBudgetSpentError(RateLimitedError):
    """The org spent its daily agent token budget (ATLAS_AGENT_TOKENS_PER_DAY); it renews at 00:00 UTC."""

    code = "agent_budget_spent"


class TooManyConcurrentAsksError(RateLimitedError):
    """The org (ATLAS_AGENT_MAX_ASKS_PER_ORG) or this worker (ATLAS_AGENT_ASKS_PER_WORKER) already answers its
    limit of questions: refused at once, never queued."""

    code = "too_many_concurrent_asks"


class AgentProviderError(AtlasError):
    """The model server failed or answered something unusable; the message names its address, never its key."""

    status = 502
    code = "agent_provider_error"


class SsoProviderNotFoundError(NotFoundError):
    """No SSO provider answers to this provider id, verified email domain or organization slug (app/sso/)."""

    code = "sso_provider_not_found"


class SsoStateError(AtlasError):
    """An SSO callback whose state is unknown, used, expired or not this browser's: start the sign-in again."""

    status = 400
    code = "sso_invalid_state"


class SsoTokenRejectedError(AtlasError):
    """The identity provider refused the code, or its ID token failed a check; `details["reason"]` says which."""

    status = 401
    code = "sso_token_rejected"

    def __init__(self, message: str, *, reason: str = "token") -> None:
        super().__init__(message, details={"reason": reason})


class SsoEmailNotAllowedError(ForbiddenError):
    """The identity provider asserted an email outside the org's verified SSO domains."""

    code = "sso_email_domain_not_allowed"


class SsoDomainNotVerifiedError(ForbiddenError):
    """The provider's email domains are not verified yet (DNS TXT record or a platform admin)."""

    code = "sso_domain_not_verified"


class SsoRequiredError(ForbiddenError):
    """An org of this user signs in by SSO only: passwords are refused (platform admins excepted)."""

    code = "sso_required"


class SsoProviderUnavailableError(ServiceUnavailableError):
    """The identity provider could not be reached, or answered something that is not OpenID Connect."""

    code = "sso_provider_unavailable"


class SsoProviderAddressRefusedError(SsoProviderUnavailableError):
    """An identity provider URL whose host resolves to a loopback, private, link-local or other non-public address."""

    code = "sso_provider_address_refused"
    status = 400
    retry_after_s = None  # type: ignore[assignment]  # a 400: retrying the same URL will not help


class SsoConfigurationError(ConfigurationError):
    """SSO cannot run: ATLAS_CONNECTION_KEYS (to encrypt client secrets) is not set."""

    code = "sso_not_configured"
    status = 503


class SsoDomainProofError(AtlasError):
    """verify-domain found no TXT record carrying the provider's token on some of its domains."""

    status = 400
    code = "sso_domain_verification_failed"


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


class BackupError(AtlasError):
    """`atlas backup` cannot go on: pgBackRest is missing, misconfigured or failed; the message says what to fix."""

    code = "backup_error"


class RestoreError(AtlasError):
    """`atlas org restore` cannot go on (bad time, no backup, a check failed); the live org is unchanged."""

    code = "restore_error"


class OrgDataError(AtlasError):
    """`atlas org export|import|delete` refused the input (a bad archive, a clash); nothing was written."""

    code = "org_data_error"


class SsoTooManySignInsError(RateLimitedError):
    """An org has too many SSO sign-ins in progress (started, not yet back from the provider)."""

    code = "sso_too_many_sign_ins"


class OAuthError(AtlasError):
    """An OAuth request (app/oauth/) is malformed; rendered as RFC 6749's `{"error", "error_description"}`."""

    status = 400
    code = "invalid_request"


class InvalidClientError(OAuthError):
    """The client_id is unknown or was not issued by this server (register again: POST /oauth/register)."""

    status = 401
    code = "invalid_client"


class InvalidGrantError(OAuthError):
    """The code or refresh token is unknown, expired, used, revoked, or bound to another client or redirect_uri."""

    code = "invalid_grant"


class InvalidClientMetadataError(OAuthError):
    """A registration (RFC 7591) asks for something this server does not offer; the message names the field."""

    code = "invalid_client_metadata"


class InvalidRedirectUriError(OAuthError):
    """A redirect URI is not https, nor http on a loopback address, or carries a fragment."""

    code = "invalid_redirect_uri"


class InvalidScopeError(OAuthError):
    """The scope asked for is not one of `scopes_supported` (`mcp`)."""

    code = "invalid_scope"


class InvalidTargetError(OAuthError):
    """The resource (RFC 8707) is not this deployment's MCP endpoint (ATLAS_OAUTH_MCP_URL + /mcp)."""

    code = "invalid_target"


class UnsupportedGrantTypeError(OAuthError):
    """Only authorization_code (with PKCE S256) and refresh_token are granted."""

    code = "unsupported_grant_type"
