"""The single sign-on endpoints (app/api/sso_routes.py, docs/sso.md); app/openapi/operations.py merges them in."""
from __future__ import annotations

from app.bodies import sso as s
from app.openapi.op import Op
from app.openapi.schemas import NULLABLE_UUID, STAMP, UUID, Schema, obj

_STRINGS: Schema = {"type": "array", "items": {"type": "string"}}
PROVIDER: Schema = obj(
    ("providerId", "type", "issuer", "domain", "organizationId", "domainVerified", "oidcConfig", "redirectURI"),
    id=UUID, providerId={"type": "string"}, type={"type": "string", "enum": ["oidc"]}, issuer={"type": "string"},
    domain={"type": "string", "description": "the email domains, comma-separated"}, organizationId=UUID,
    userId=NULLABLE_UUID, domainVerified={"type": "boolean"},
    oidcConfig=obj(issuer={"type": "string"}, pkce={"type": "boolean"}, clientIdLastFour={"type": "string"},
                   discoveryEndpoint={"type": "string"}, scopes=_STRINGS,
                   tokenEndpointAuthentication={"type": "string"}),
    redirectURI={"type": "string", "description": "register this at the identity provider"},
    roleClaim={"type": "string", "nullable": True}, roleMapping={"type": "object"},
    defaultRole={"type": "string", "enum": ["member", "admin"]}, ssoRequired={"type": "boolean"},
    domainVerificationToken={"type": "string"}, createdAt=STAMP, updatedAt=STAMP)
_SUCCESS: Schema = obj(("success",), success={"type": "boolean"})
_PROVIDER_QUERY: Schema = {"type": "string"}

SSO_OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", "/api/auth/sso/register"): Op(
        summary="Register the org's OIDC provider (its discovery document must answer); the secret is encrypted",
        access="ssoProvider:create", tag="sso", body=s.RegisterProvider, response=PROVIDER),
    ("GET", "/api/auth/sso/providers"): Op(
        summary="The org's SSO providers (never a client secret)", access="ssoProvider:read", tag="sso",
        response=obj(("providers",), providers={"type": "array", "items": PROVIDER})),
    ("GET", "/api/auth/sso/get-provider"): Op(
        summary="One of the org's SSO providers", access="ssoProvider:read", tag="sso", response=PROVIDER,
        query=(("providerId", _PROVIDER_QUERY),)),
    ("POST", "/api/auth/sso/update-provider"): Op(
        summary="Change a provider; new domains must be verified again", access="ssoProvider:update", tag="sso",
        body=s.UpdateProvider, response=PROVIDER),
    ("POST", "/api/auth/sso/delete-provider"): Op(
        summary="Remove a provider (sign-ins in progress end with it)", access="ssoProvider:delete", tag="sso",
        body=s.ProviderRef, response=_SUCCESS),
    ("POST", "/api/auth/sso/request-domain-verification"): Op(
        summary="The DNS TXT record proving the provider's domains", access="ssoProvider:update", tag="sso",
        body=s.ProviderRef, response=obj(("domainVerificationToken",), domainVerificationToken={"type": "string"},
                                         records={"type": "array", "items": obj(
                                             type={"type": "string"}, name={"type": "string"},
                                             value={"type": "string"})})),
    ("POST", "/api/auth/sso/verify-domain"): Op(
        summary="Check the TXT record on every domain and mark them verified", access="ssoProvider:update",
        tag="sso", body=s.ProviderRef, response=None, status=204),
    ("POST", "/api/v1/admin/sso/verify-domain"): Op(
        summary="A platform admin vouches for a provider's domains (any org's; audited there)",
        access="platform_admin", tag="sso", body=s.ProviderRef,
        response=obj(("success",), success={"type": "boolean"}, organizationId=UUID, providerId={"type": "string"})),
    ("POST", "/api/auth/sign-in/sso"): Op(
        summary="Begin an SSO sign-in (by providerId, email, domain or organizationSlug): the provider's URL",
        access="public", tag="sso", body=s.SignInSso,
        response=obj(("url", "redirect"), url={"type": "string"}, redirect={"type": "boolean"})),
    ("GET", "/api/auth/sso/callback/{provider_id}"): Op(
        summary="The provider's redirect back: on to callbackURL signed in to the provider's org",
        access="public", tag="sso", response=None, status=302),
}
