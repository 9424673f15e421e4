"""Single sign-on over HTTP, on Better Auth's SSO plugin paths (app/sso/ does the work; docs/sso.md).

Admins and owners manage their org's providers (`ssoProvider` in the matrix);
every change is audited in the org. Sign-in (`/sign-in/sso`) and the provider's
callback (`/sso/callback/{providerId}`) are public: the org comes from the
provider, never from the request. A platform admin may verify a provider's
domains for an org that cannot publish a DNS record.
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

import psycopg
from flask import Blueprint, Response, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from app import audit, auth
from app.api import get_db, session_scope
from app.api.spec.schemas import obj
from app.bodies.sso import (
    OidcCallback,
    ProviderQuery,
    ProviderRef,
    RegisterProvider,
    SignInSso,
    UpdateProvider,
    domains,
)
from app.credentials import CredentialBox
from app.endpoint import endpoint
from app.errors import AtlasError, ConflictError, ValidationError
from app.errors.better_auth import (
    DomainVerifiedError,
    InvalidCallbackUrlError,
    InvalidErrorCallbackUrlError,
    InvalidNewUserCallbackUrlError,
)
from app.errors.configuration import SsoConfigurationError
from app.errors.sign_in import (
    SsoDomainProofError,
    SsoProviderNotFoundError,
    SsoProviderUnavailableError,
    SsoTokenRejectedError,
)
from app.http import origins
from app.http.context import services
from app.http.session_switch import session_kwargs
from app.permissions import PLATFORM_ADMIN, PUBLIC, permission
from app.sso import (
    BINDING_COOKIE,
    FLOW_TTL_S,
    HTTP_TIMEOUT_S,
    SsoSettings,
    accounts,
    flow,
    gate,
    oidc,
    providers,
    txt_resolver,
)
from app.sso.domains import record_name, unproven_domains

log = logging.getLogger("atlas.sso")

bp = Blueprint("sso", __name__)
CALLBACK_PATH = "/api/auth/sso/callback"
SUCCESS = obj(("success",), success={"type": "boolean"})
PROVIDER = obj(
    ("providerId", "type", "issuer", "domain", "organizationId", "domainVerified", "oidcConfig", "redirectURI"),
    id={"type": "string", "format": "uuid"}, providerId={"type": "string"}, type={"type": "string", "enum": ["oidc"]},
    issuer={"type": "string"}, domain={"type": "string", "description": "the email domains, comma-separated"},
    organizationId={"type": "string", "format": "uuid"}, userId={"type": "string", "format": "uuid", "nullable": True},
    domainVerified={"type": "boolean"},
    oidcConfig=obj(issuer={"type": "string"}, pkce={"type": "boolean"}, clientIdLastFour={"type": "string"},
                   discoveryEndpoint={"type": "string"}, scopes={"type": "array", "items": {"type": "string"}},
                   tokenEndpointAuthentication={"type": "string"}),
    redirectURI={"type": "string", "description": "register this at the identity provider"},
    roleClaim={"type": "string", "nullable": True}, roleMapping={"type": "object"},
    defaultRole={"type": "string", "enum": ["member", "admin"]}, ssoRequired={"type": "boolean"},
    domainVerificationToken={"type": "string"}, createdAt={"type": "string", "format": "date-time"},
    updatedAt={"type": "string", "format": "date-time"})


def _settings() -> SsoSettings:
    return services().settings.sso


def _public_url() -> str:
    return services().settings.http.public_url.rstrip("/")


def _secure() -> bool:
    return services().settings.http.cookie_secure


def _box() -> CredentialBox:
    box = services().connections.box
    if not box.configured:
        raise SsoConfigurationError("SSO needs an encryption key for client secrets: set ATLAS_CONNECTION_KEYS"
                                    " to one or more Fernet keys (docs/connections.md)")
    return box


def _issuer(raw: str) -> str:
    """The issuer, once its URL is acceptable and its discovery document answers (else 400, naming the fix)."""
    try:
        issuer = oidc.check_issuer_url(raw, allow_http=_settings().allow_http_issuers)
    except ValueError as refused:
        raise ValidationError(f"issuer {refused}", details={"fields": {"issuer": str(refused)}}) from None
    try:
        oidc.discover(issuer, timeout_s=HTTP_TIMEOUT_S, allow_private=_settings().allow_http_issuers)
    except SsoProviderUnavailableError as unusable:
        raise ValidationError(f"issuer: {unusable.message}", details={"fields": {"issuer": unusable.message}}) from None
    return issuer


def _mapping(change: Any) -> tuple[str | None, dict[str, str]]:
    return (None, {}) if change is None else (change.claim, dict(change.values))


def _answer(row: dict, **extra: Any) -> dict[str, Any]:
    return {**providers.provider_json(row, public_url=_public_url()), **extra}


def _owned(scope: Any, provider_id: str, *, for_update: bool = False) -> dict:
    row = providers.get(scope, provider_id, for_update=for_update)
    if row is None:  # another org's provider is as absent as a provider that never was
        raise SsoProviderNotFoundError(f"this organization has no SSO provider {provider_id!r}")
    return row


# ----- the org's providers ------------------------------------------------------------------------
@bp.post("/api/auth/sso/register")
@endpoint(permission("ssoProvider", "create"), tag="sso", body=RegisterProvider, response=PROVIDER,
          control_plane=True)
def register(body: RegisterProvider) -> ResponseReturnValue:
    """Register an OIDC provider for the session's org; its discovery document must answer first."""
    issuer, box = _issuer(body.issuer), _box()
    claim, mapping = _mapping(body.roleMapping)
    if providers.find(get_db(), provider_id=body.providerId) is not None:  # any org's: it routes callbacks
        raise ConflictError(f"providerId {body.providerId!r} is taken: choose another")
    try:
        with session_scope() as scope:
            row = providers.insert(
                scope, provider_id=body.providerId, issuer=issuer, client_id=body.oidcConfig.clientId,
                client_secret=box.encrypt(body.oidcConfig.clientSecret),
                scopes=list(body.oidcConfig.scopes or ["openid", "email", "profile"]), domains=domains(body.domain),
                role_claim=claim, role_mapping=mapping, default_role=body.defaultRole, sso_required=body.ssoRequired,
                created_by=g.identity.user_id)
            audit.record(scope, action="sso_provider.create", entity="sso_provider", entity_id=body.providerId,
                         changed_fields=("issuer", "client_id", "client_secret", "domains", "role_mapping",
                                         "default_role", "sso_required"),
                         detail={"issuer": issuer, "domains": row["domains"], "ssoRequired": body.ssoRequired})
    except psycopg.errors.UniqueViolation:
        raise ConflictError(f"providerId {body.providerId!r} is taken: choose another") from None
    return _answer(row, domainVerificationToken=row["verification_token"])


@bp.get("/api/auth/sso/providers")
@endpoint(permission("ssoProvider", "read"), tag="sso", control_plane=True,
          response=obj(("providers",), providers={"type": "array", "items": PROVIDER}))
def list_providers() -> ResponseReturnValue:
    """The org's SSO providers (never a client secret)."""
    with session_scope(read_only=True) as scope:
        rows = providers.list_of_org(scope)
    return {"providers": [_answer(row) for row in rows]}


@bp.get("/api/auth/sso/get-provider")
@endpoint(permission("ssoProvider", "read"), tag="sso", query=ProviderQuery, response=PROVIDER, control_plane=True)
def get_provider(args: ProviderQuery) -> ResponseReturnValue:
    """One of the org's SSO providers."""
    with session_scope(read_only=True) as scope:
        return _answer(_owned(scope, args.providerId))


@bp.post("/api/auth/sso/update-provider")
@endpoint(permission("ssoProvider", "update"), tag="sso", body=UpdateProvider, response=PROVIDER,
          control_plane=True)
def update_provider(body: UpdateProvider) -> ResponseReturnValue:
    """Change what was sent; a new domain list is unverified until proven again."""
    changes: dict[str, Any] = {}
    if body.issuer is not None:
        changes["issuer"] = _issuer(body.issuer)
    if body.domain is not None:
        changes["domains"] = domains(body.domain)
    if body.oidcConfig is not None:
        if body.oidcConfig.clientId is not None:
            changes["client_id"] = body.oidcConfig.clientId
        if body.oidcConfig.clientSecret is not None:
            changes["client_secret"] = _box().encrypt(body.oidcConfig.clientSecret)
        if body.oidcConfig.scopes is not None:
            changes["scopes"] = list(body.oidcConfig.scopes)
    if body.roleMapping is not None:
        changes["role_claim"], changes["role_mapping"] = _mapping(body.roleMapping)
    if body.defaultRole is not None:
        changes["default_role"] = body.defaultRole
    if body.ssoRequired is not None:
        changes["sso_required"] = body.ssoRequired
    with session_scope() as scope:
        before = _owned(scope, body.providerId, for_update=True)
        if "domains" in changes and changes["domains"] == list(before["domains"]):
            del changes["domains"]  # the same domains stay proven
        row = providers.update(scope, body.providerId, changes)
        audit.record(scope, action="sso_provider.update", entity="sso_provider", entity_id=body.providerId,
                     changed_fields=changes, detail={k: v for k, v in changes.items() if k != "client_secret"})
    assert row is not None
    if changes.get("sso_required"):
        _require_now(g.identity.org_id, body.providerId)
    return _answer(row)


@bp.post("/api/auth/sso/delete-provider")
@endpoint(permission("ssoProvider", "delete"), tag="sso", body=ProviderRef, response=SUCCESS, control_plane=True)
def delete_provider(body: ProviderRef) -> ResponseReturnValue:
    """Remove a provider (sign-ins in progress end with it)."""
    provider_id = body.providerId
    with session_scope() as scope:
        _owned(scope, provider_id, for_update=True)
        providers.delete(scope, provider_id)
        audit.record(scope, action="sso_provider.delete", entity="sso_provider", entity_id=provider_id)
    return {"success": True}


# ----- proving the domains ------------------------------------------------------------------------
@bp.post("/api/auth/sso/request-domain-verification")
@endpoint(permission("ssoProvider", "update"), tag="sso", body=ProviderRef, control_plane=True,
          response=obj(("domainVerificationToken",), domainVerificationToken={"type": "string"},
                       records={"type": "array", "items": obj(type={"type": "string"}, name={"type": "string"},
                                                               value={"type": "string"})}))
def request_domain_verification(body: ProviderRef) -> ResponseReturnValue:
    """The token to publish, and where: `_better-auth-token-{providerId}.{domain}` TXT."""
    provider_id = body.providerId
    with session_scope(read_only=True) as scope:
        row = _owned(scope, provider_id)
    if row["domain_verified"]:
        raise DomainVerifiedError()
    name = record_name(provider_id)
    return {"domainVerificationToken": row["verification_token"],
            "records": [{"type": "TXT", "name": f"{name}.{d}", "value": f"{name}={row['verification_token']}"}
                        for d in row["domains"]]}


@bp.post("/api/auth/sso/verify-domain")
@endpoint(permission("ssoProvider", "update"), tag="sso", body=ProviderRef, response=None, status=204,
          control_plane=True)
def verify_domain(body: ProviderRef) -> ResponseReturnValue:
    """204 once every domain's TXT record carries the token and no other org has proven one of them."""
    provider_id = body.providerId
    with session_scope(read_only=True) as scope:
        row = _owned(scope, provider_id)
    if row["domain_verified"]:
        raise DomainVerifiedError()
    missing = unproven_domains(provider_id=provider_id, domains=list(row["domains"]),
                               token=row["verification_token"], resolve=txt_resolver(_settings()))
    if missing:
        name = record_name(provider_id)
        raise SsoDomainProofError(
            f"no TXT record {name}.<domain> = {name}={row['verification_token']} was found for: {', '.join(missing)};"
            " publish it and try again (DNS changes may take a while to show)", details={"domains": missing})
    _mark_verified(g.identity.org_id, row, by="dns")
    return "", 204


@bp.post("/api/v1/admin/sso/verify-domain")
@endpoint(PLATFORM_ADMIN, tag="sso", body=ProviderRef, control_plane=True,
          response=obj(("success",), success={"type": "boolean"}, organizationId={"type": "string", "format": "uuid"},
                       providerId={"type": "string"}))
def platform_verify_domain(body: ProviderRef) -> ResponseReturnValue:
    """A platform admin vouches for a provider's domains (any org's): recorded in that org's audit trail."""
    provider_id = body.providerId
    found = providers.find(get_db(), provider_id=provider_id)
    if found is None:
        raise SsoProviderNotFoundError(f"no SSO provider {provider_id!r}")
    with get_db().transaction(found.org_id, read_only=True) as scope:
        row = _owned(scope, provider_id)
    _mark_verified(found.org_id, row, by="platform_admin")
    return {"success": True, "organizationId": str(found.org_id), "providerId": provider_id}


def _mark_verified(org_id: Any, row: dict, *, by: str) -> None:
    domains_ = list(row["domains"])
    taken = providers.domains_taken_elsewhere(get_db(), org_id=org_id, domains=domains_)
    if taken:
        raise ConflictError(f"{', '.join(taken)} is already a verified SSO domain of another organization")
    with get_db().transaction(org_id, user_id=g.identity.user_id) as scope:
        if not providers.mark_verified(scope, row["provider_id"], domains=domains_):
            raise ConflictError("the provider's domains changed while they were being verified: verify again")
        audit.record(scope, action="sso_provider.verify_domain", entity="sso_provider", entity_id=row["provider_id"],
                     changed_fields=("domain_verified",), detail={"domains": domains_, "by": by})
    _require_now(org_id, row["provider_id"])


def _require_now(org_id: Any, provider_id: str) -> None:
    """The org's SSO requirement binds at once: sessions it no longer admits end now, but the caller's (app/sso/gate.py)."""
    ended = gate.end_unadmitted_sessions(get_db(), org_id, sparing=g.identity.token_hash)
    if ended:
        with get_db().transaction(org_id, user_id=g.identity.user_id) as scope:
            audit.record(scope, action="sso.sessions_ended", entity="sso_provider", entity_id=provider_id,
                         detail={"sessions": ended, "reason": "the organization requires single sign-on"})


# ----- signing in ---------------------------------------------------------------------------------
@bp.post("/api/auth/sign-in/sso")
@endpoint(PUBLIC, tag="sso", body=SignInSso, control_plane=True,
          response=obj(("url", "redirect"), url={"type": "string"}, redirect={"type": "boolean"}))
def sign_in_sso(body: SignInSso) -> ResponseReturnValue:
    """Begin: find the provider (providerId, email's verified domain, domain or organizationSlug), answer its URL."""
    for value, refusal in ((body.callbackURL, InvalidCallbackUrlError),
                           (body.errorCallbackURL, InvalidErrorCallbackUrlError),
                           (body.newUserCallbackURL, InvalidNewUserCallbackUrlError)):
        if value and not origins.is_trusted(value):
            raise refusal()
    db = get_db()
    domain = body.domain or (flow.domain_of(body.email) if body.email else None)
    found = (providers.find(db, provider_id=body.providerId) if body.providerId else
             providers.find(db, slug=body.organizationSlug) if body.organizationSlug else
             providers.find(db, domain=domain.lower()) if domain else None)
    if found is None:
        raise SsoProviderNotFoundError("no SSO provider answers to this sign-in: check the providerId, the"
                                       " organizationSlug or that the email's domain is verified for SSO")
    started = flow.begin(db, _settings(), found, public_url=_public_url(), email=body.email,
                         login_hint=body.loginHint, callback_url=body.callbackURL,
                         error_url=body.errorCallbackURL, new_user_url=body.newUserCallbackURL)
    response = jsonify({"url": started.url, "redirect": True})
    response.set_cookie(BINDING_COOKIE, started.binding, max_age=FLOW_TTL_S, httponly=True, samesite="Lax",
                        secure=_secure(), path=CALLBACK_PATH)
    return response


@bp.get(f"{CALLBACK_PATH}/<provider_id>")
@endpoint(PUBLIC, tag="sso", query=OidcCallback, response=None, status=302, control_plane=True)
def callback(provider_id: str, args: OidcCallback) -> ResponseReturnValue:
    """The provider's redirect: the flow consumed, the code exchanged, the user signed in to the provider's org."""
    db = get_db()
    found = providers.find(db, provider_id=provider_id[:40])
    if found is None:
        raise SsoProviderNotFoundError(f"no SSO provider {provider_id[:40]!r}")
    started = flow.consume(db, found, state=args.state, binding=request.cookies.get(BINDING_COOKIE))
    try:
        if args.error:
            raise SsoTokenRejectedError(f"the identity provider refused the sign-in: {args.error[:100]}",
                                        reason="provider")
        provider, claims = flow.identify(db, _settings(), _box(), started, code=args.code,
                                         issuer_param=args.iss, public_url=_public_url())
        new, user, created = accounts.sign_in(db, provider=provider, claims=claims, session=session_kwargs())
    except AtlasError as refused:
        log.warning("SSO sign-in at %s refused: %s (%s)", provider_id, refused.code, refused.message)
        _audit_refusal(started, refused)
        if started.error_url:
            separator = "&" if "?" in started.error_url else "?"
            response = _redirect(f"{started.error_url}{separator}"
                                 f"{urlencode({'error': refused.code, 'error_description': refused.message})}")
            response.delete_cookie(BINDING_COOKIE, path=CALLBACK_PATH)
            return response
        raise
    target = (started.new_user_url if created and started.new_user_url else started.callback_url) or "/"
    response = _redirect(target)
    auth.set_session_cookie(response, new, secure=_secure())
    response.delete_cookie(BINDING_COOKIE, path=CALLBACK_PATH)
    return response


def _redirect(url: str) -> Response:
    """A 302 to a URL checked against the trusted origins when the flow began (never a request's own)."""
    response = current_app.response_class(status=302)
    response.headers["Location"] = url
    return response


def _audit_refusal(started: flow.Flow, refused: AtlasError) -> None:
    """The org learns of a refused sign-in at its provider (its own transaction: nothing else was written)."""
    with get_db().transaction(started.org_id) as scope:
        audit.record(scope, action="sso.sign_in", entity="sso_provider", entity_id=started.provider_id,
                     outcome="refused", actor_user_id=None,
                     detail={"code": refused.code, **({"reason": refused.details["reason"]}
                                                      if "reason" in refused.details else {})})

