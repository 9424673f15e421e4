"""Accounts, sign-in throttling and single sign-on (app/sso/)."""
from __future__ import annotations

from app.better_auth_codes import MESSAGES
from app.errors import (
    AtlasError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    ServiceUnavailableError,
    UnprocessableError,
)


class UserExistsError(UnprocessableError):
    """Signing up with an email that already has an account (Better Auth answers 422)."""

    code = "user_already_exists"
    auth_code = "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"

    def __init__(self, message: str = MESSAGES[auth_code]) -> None:
        super().__init__(message)


class SignInThrottledError(RateLimitedError):
    """Too many sign-in attempts for an account or from an address; `retry_after_s` says when to retry."""

    code = "sign_in_throttled"


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


class SsoDomainProofError(AtlasError):
    """verify-domain found no TXT record carrying the provider's token on some of its domains."""

    status = 400
    code = "sso_domain_verification_failed"


class SsoTooManySignInsError(RateLimitedError):
    """An org has too many SSO sign-ins in progress (started, not yet back from the provider)."""

    code = "sso_too_many_sign_ins"
