"""One SSO sign-in, in order: begin (state, nonce, PKCE kept server-side), then the callback's checks.

`begin` stores the flow in the provider's org (sso_flows) and hands back the
provider's authorization URL and a binding value for the browser's cookie.
`consume` deletes the flow by its state in the org of the provider the
callback names, in its own committed transaction: a state is good once, for
FLOW_TTL_S, in the browser that began it, and only at its own provider (a flow
begun at org A's provider is not found under org B's). `identify` then
exchanges the code and checks the ID token (oidc.py) and the email's domain.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from app.credentials import CredentialBox
from app.db import Database
from app.errors.sign_in import (
    SsoDomainNotVerifiedError,
    SsoEmailNotAllowedError,
    SsoProviderNotFoundError,
    SsoStateError,
    SsoTokenRejectedError,
    SsoTooManySignInsError,
)
from app.sso import FLOW_TTL_S, HTTP_TIMEOUT_S, SsoSettings, oidc, providers

MAX_LIVE_FLOWS = 1000  # per org: sign-ins begun and not yet back (each expires after FLOW_TTL_S)


@dataclass(frozen=True)
class Started:
    url: str
    binding: str  # for the browser's BINDING_COOKIE; only its hash is stored


@dataclass(frozen=True)
class Flow:
    org_id: Any
    provider_id: str
    nonce: str
    code_verifier: str
    callback_url: str | None
    error_url: str | None
    new_user_url: str | None


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def domain_of(email: str) -> str:
    return email.rpartition("@")[2].lower()


def provider_row(db: Database, found: providers.Found) -> dict:
    with db.transaction(found.org_id, read_only=True) as scope:
        row = providers.get(scope, found.provider_id)
    if row is None:
        raise SsoProviderNotFoundError("no SSO provider answers to this sign-in")
    return row


def begin(db: Database, sso: SsoSettings, found: providers.Found, *, public_url: str, email: str | None,
          login_hint: str | None, callback_url: str | None, error_url: str | None,
          new_user_url: str | None) -> Started:
    """Store a new flow and answer the provider's authorization URL; refuses unverified domains and foreign emails."""
    provider = provider_row(db, found)
    if not provider["domain_verified"]:
        raise SsoDomainNotVerifiedError(
            f"the SSO provider {provider['provider_id']!r} cannot sign anyone in until its email domains are verified"
            " (POST /api/auth/sso/verify-domain after publishing the DNS TXT record, or ask a platform admin)")
    if email is not None and domain_of(email) not in provider["domains"]:
        raise SsoEmailNotAllowedError(f"{domain_of(email)} is not an email domain of this organization's SSO")
    with db.transaction(found.org_id, read_only=True) as scope:
        live = scope.fetch_value("SELECT count(*) FROM sso_flows WHERE expires_at > now()")
    if live >= MAX_LIVE_FLOWS:  # a bound on what an anonymous caller can make Atlas store and fetch
        raise SsoTooManySignInsError(f"this organization has {MAX_LIVE_FLOWS} SSO sign-ins in progress; try again"
                                     " in a few minutes", retry_after_s=60)
    endpoints = oidc.discover(provider["issuer"], timeout_s=HTTP_TIMEOUT_S, allow_private=sso.allow_http_issuers)
    state, nonce, verifier, binding = (secrets.token_urlsafe(32), secrets.token_urlsafe(32),
                                       secrets.token_urlsafe(64), secrets.token_urlsafe(32))
    with db.transaction(found.org_id) as scope:
        scope.execute("DELETE FROM sso_flows WHERE expires_at <= now()")  # the org's abandoned sign-ins
        scope.execute(
            "INSERT INTO sso_flows (org_id, provider_id, state_hash, binding_hash, nonce, code_verifier,"
            " callback_url, error_url, new_user_url, expires_at)"
            " VALUES (%(org)s, %(pid)s, %(state)s, %(binding)s, %(nonce)s, %(verifier)s, %(cb)s, %(err)s, %(new)s,"
            "         now() + make_interval(secs => %(ttl)s))",
            {"org": found.org_id, "pid": found.provider_id, "state": _hash(state), "binding": _hash(binding),
             "nonce": nonce, "verifier": verifier, "cb": callback_url, "err": error_url, "new": new_user_url,
             "ttl": FLOW_TTL_S})
    url = oidc.authorization_url(endpoints, client_id=provider["client_id"],
                                 redirect_uri=providers.callback_url(public_url, found.provider_id),
                                 scopes=list(provider["scopes"]), state=state, nonce=nonce, code_verifier=verifier,
                                 login_hint=login_hint or email)
    return Started(url=url, binding=binding)


def consume(db: Database, found: providers.Found, *, state: str | None, binding: str | None) -> Flow:
    """The flow `state` began, deleted (single use) before anything else is checked; SsoStateError otherwise."""
    if not state or len(state) > 200:
        raise SsoStateError("the callback carries no state: start the sign-in again")
    with db.transaction(found.org_id) as scope:
        row = scope.fetch_one(
            "DELETE FROM sso_flows WHERE state_hash = %s AND provider_id = %s"
            " RETURNING org_id, provider_id, binding_hash, nonce, code_verifier, callback_url, error_url,"
            " new_user_url, expires_at > now() AS live",
            (_hash(state), found.provider_id))
    if row is None:
        raise SsoStateError("this sign-in's state is unknown here or was used already: start the sign-in again")
    if not row["live"]:
        raise SsoStateError(f"this sign-in took longer than {FLOW_TTL_S} seconds at the provider: start it again")
    if binding is None or not hmac.compare_digest(_hash(binding), row["binding_hash"]):
        raise SsoStateError("this sign-in was started in another browser (its binding cookie is missing or"
                            " different): start the sign-in again here")
    return Flow(org_id=row["org_id"], provider_id=row["provider_id"], nonce=row["nonce"],
                code_verifier=row["code_verifier"], callback_url=row["callback_url"], error_url=row["error_url"],
                new_user_url=row["new_user_url"])


def identify(db: Database, sso: SsoSettings, box: CredentialBox, flow: Flow, *, code: str | None,
             issuer_param: str | None, public_url: str) -> tuple[dict, dict[str, Any]]:
    """(provider row, verified claims) for the callback's code: the code exchanged, the ID token checked."""
    provider = provider_row(db, providers.Found(org_id=flow.org_id, provider_id=flow.provider_id))
    if not provider["domain_verified"]:
        raise SsoDomainNotVerifiedError("this SSO provider's domains are no longer verified")
    if not code:
        raise SsoTokenRejectedError("the callback carries no authorization code", reason="code")
    if issuer_param is not None and issuer_param.rstrip("/") != provider["issuer"]:  # RFC 9207: mix-up defence
        raise SsoTokenRejectedError("the callback names another issuer (iss) than this provider's", reason="issuer")
    endpoints = oidc.discover(provider["issuer"], timeout_s=HTTP_TIMEOUT_S, allow_private=sso.allow_http_issuers)
    token = oidc.exchange_code(endpoints, client_id=provider["client_id"],
                               client_secret=box.decrypt(provider["client_secret"]),
                               redirect_uri=providers.callback_url(public_url, flow.provider_id), code=code,
                               code_verifier=flow.code_verifier, timeout_s=HTTP_TIMEOUT_S)
    claims = oidc.verify_id_token(token["id_token"], endpoints=endpoints, client_id=provider["client_id"],
                                  nonce=flow.nonce, leeway_s=sso.clock_skew_s, timeout_s=HTTP_TIMEOUT_S)
    if "email" not in claims and isinstance(token.get("access_token"), str):
        info = oidc.userinfo(endpoints, access_token=token["access_token"], timeout_s=HTTP_TIMEOUT_S)
        if info.get("sub") == claims["sub"]:
            claims = {**info, **claims}
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise SsoTokenRejectedError("the identity provider sent no email claim (request the email scope)",
                                    reason="email")
    if claims.get("email_verified") is False:
        raise SsoEmailNotAllowedError("the identity provider says this email address is not verified")
    if domain_of(email) not in provider["domains"]:
        raise SsoEmailNotAllowedError(
            f"the identity provider asserted an email at {domain_of(email)}, which is not among this organization's"
            " verified SSO domains; nobody was signed in")
    return provider, claims
