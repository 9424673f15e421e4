"""Request bodies of the SSO endpoints (app/api/sso_routes.py), in Better Auth's SSO plugin shapes.

`domain` is Better Auth's: one domain or several, comma-separated; Atlas keeps
them lower-cased and refuses anything that is not a host name. Atlas's own
fields (role mapping, default role, SSO required) sit beside Better Auth's.
The client secret is only ever written: no answer or error carries it.
"""
from __future__ import annotations

import re
from typing import Annotated, Any

import pydantic

from app.bodies import Body
from app.bodies.fields import Choice, Email, Flag, Slug, Text, fail
from app.bodies.query import Query

PROVIDER_ID = r"[a-z0-9][a-z0-9-]{0,39}"
PROVIDER_HINT = "1-40 characters of a-z, 0-9 and -, starting with a letter or digit"
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
ProviderId = Annotated[str, Text(max_len=40, pattern=PROVIDER_ID, hint=PROVIDER_HINT)]
Url = Annotated[str, Text(max_len=2000, strip=False)]
SsoRole = Annotated[str, Choice(options=("member", "admin"))]


def domains(value: str) -> list[str]:
    """Better Auth's comma-separated `domain`, as a list of lower-case host names (400 otherwise)."""
    items = [item.strip().lower() for item in value.split(",") if item.strip()]
    if not items or len(items) > 20 or any(not _DOMAIN.fullmatch(item) for item in items):
        raise ValueError("domain must be one or more host names, comma-separated (example.com,example.org), at most 20")
    return sorted(set(items))


class _Domain(Text):
    def after(self, value: Any) -> Any:
        try:
            return ",".join(domains(value))
        except ValueError as refused:
            fail(str(refused).removeprefix("domain "))


DomainList = Annotated[str, _Domain(max_len=2000)]


class OidcConfig(Body):
    clientId: Annotated[str, Text(max_len=500)]
    clientSecret: Annotated[str, Text(max_len=2000, strip=False)]
    scopes: list[Annotated[str, Text(max_len=100, pattern=r"[!#-\[\]-~]+", hint="a scope token")]] | None = None


class OidcChange(Body):
    clientId: Annotated[str, Text(max_len=500)] | None = None
    clientSecret: Annotated[str, Text(max_len=2000, strip=False)] | None = None
    scopes: list[Annotated[str, Text(max_len=100, pattern=r"[!#-\[\]-~]+", hint="a scope token")]] | None = None


class RoleMapping(Body):
    """`claim` names the ID token claim (a string or a list, such as groups); `values` maps its values to roles."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    claim: Annotated[str, Text(max_len=100)]
    values: dict[str, SsoRole]

    @pydantic.field_validator("values")
    @classmethod
    def _few_short_values(cls, values: dict[str, str]) -> dict[str, str]:
        if len(values) > 50 or any(not 1 <= len(key) <= 200 for key in values):
            fail("must map at most 50 claim values, each 1-200 characters, to member or admin")
        return values


class RegisterProvider(Body):
    providerId: ProviderId
    issuer: Url
    domain: DomainList
    oidcConfig: OidcConfig
    roleMapping: RoleMapping | None = None
    defaultRole: SsoRole = "member"
    ssoRequired: Annotated[bool, Flag()] = False


class UpdateProvider(Body):
    providerId: ProviderId
    issuer: Url | None = None
    domain: DomainList | None = None
    oidcConfig: OidcChange | None = None
    roleMapping: RoleMapping | None = None
    defaultRole: SsoRole | None = None
    ssoRequired: Annotated[bool, Flag()] | None = None


class ProviderRef(Body):
    providerId: ProviderId


class SignInSso(Body):
    """Better Auth's signIn.sso: one of email, organizationSlug, providerId or domain finds the provider."""

    email: Annotated[str, Email()] | None = None
    organizationSlug: Annotated[str, Slug()] | None = None
    providerId: ProviderId | None = None
    domain: Annotated[str, Text(max_len=253)] | None = None
    callbackURL: Url | None = None
    errorCallbackURL: Url | None = None
    newUserCallbackURL: Url | None = None
    loginHint: Annotated[str, Text(max_len=254)] | None = None


class ProviderQuery(Query):
    providerId: str = ""


class OidcCallback(Query):
    """What the identity provider's redirect carries (OpenID Connect's authorization response)."""

    state: str | None = None
    code: str | None = None
    error: str | None = None
    iss: str | None = None
