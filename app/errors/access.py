"""Refusals about who may act, in which org, and with which Idempotency-Key."""
from __future__ import annotations

from app.better_auth_codes import MESSAGES
from app.errors import AtlasError, ConflictError, ForbiddenError


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


class IdempotencyKeyReusedError(AtlasError):
    """An Idempotency-Key came back with a different request (another body, path or method)."""

    status = 422
    code = "idempotency_key_reused"


class IdempotencyInFlightError(ConflictError):
    """A request with this Idempotency-Key is still being processed; retry after it finishes."""

    code = "idempotency_in_flight"
    retry_after_s = 1
