"""Atlas's errors: each knows its HTTP status and a stable code; the API renders them in one place.

The base class and one class per status live here; the families subclass them, one module each:

- `app.errors.access`: who may act, in which org (origin, cross-org, API key, no org, undeclared view,
  the last owner) and the Idempotency-Key's refusals;
- `app.errors.better_auth`: the refusals only /api/auth answers, one class per Better Auth code;
- `app.errors.configuration`: a setting is missing or malformed (the message names it);
- `app.errors.database`: the database or its door refused or is away (no org, down, read-only, timeout, moving);
- `app.errors.limits`: a concurrency or budget limit of agent work, or Redis behind the limits, is spent;
- `app.errors.oauth`: OAuth's (RFC 6749) refusals, rendered in its own shape;
- `app.errors.operations`: jobs and the operator's commands (move, backup, restore, export);
- `app.errors.query`: agent SQL, the semantic layer, org connections and the model server;
- `app.errors.sign_in`: accounts, sign-in throttling and SSO.

Rendered to JSON by app/http/errors.py; database errors mapped by class in app/db/refusals.py.
A refusal Better Auth's client compares by code names it (`code` or `auth_code`, app/better_auth_codes.py).
"""
from __future__ import annotations


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


class RateLimitedError(AtlasError):
    """A budget is spent for now (an org's queries, password-reset requests); `retry_after_s` says when to come back."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int = 1, details: dict | None = None) -> None:
        super().__init__(message, details=details)
        self.retry_after_s = max(1, int(retry_after_s))


class UnprocessableError(AtlasError):
    """Well-formed input that cannot be acted on (e.g. signing up an existing email)."""

    status = 422
    code = "unprocessable"
