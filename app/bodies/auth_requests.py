"""Request bodies of the account, session and organization-read endpoints (Better Auth's fields).

Like the other auth bodies, unknown fields are ignored (Better Auth's clients
send `callbackURL`, `fetchOptions` and such).
"""
from __future__ import annotations

from typing import Annotated, Any

from app.bodies import Body
from app.bodies.fields import Email, Flag, Slug, Text
from app.bodies.requests import REQUIRED, OrgEcho

Password = Annotated[str, Text(strip=False, blank=True, min_len=1, max_len=4096, null=REQUIRED)]  # 8-128 checked by the view


class CheckSlug(Body):
    slug: Annotated[str, Slug(null=REQUIRED)]


class HasPermission(Body):
    """`permissions` ({resource: [action, ...]}); `permission` is its older name."""

    permissions: dict[str, list[str]] | None = None
    permission: dict[str, list[str]] | None = None
    organizationId: OrgEcho = None


class RevokeSession(Body):
    token: Annotated[str, Text(max_len=200, null=REQUIRED)]


class UpdateUser(Body):
    name: Annotated[str, Text()] = None  # type: ignore[assignment]  # absent: unchanged
    image: Any = None
    email: Any = None  # refused: EMAIL_CAN_NOT_BE_UPDATED


class ChangePassword(Body):
    newPassword: Password
    currentPassword: Password
    revokeOtherSessions: Annotated[bool, Flag()] | None = None


class RequestPasswordReset(Body):
    email: Annotated[str, Email(null=REQUIRED)]
    redirectTo: Annotated[str, Text(max_len=2000, blank=True)] | None = None


class ResetPassword(Body):
    newPassword: Password
    token: Annotated[str, Text(max_len=200)] | None = None
