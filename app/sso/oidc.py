"""The OpenID Connect relying party: discovery, the authorization URL, the code exchange, the ID token.

authlib's OAuth2Session builds the authorization request (S256 PKCE, state,
nonce) and performs the code exchange (client_secret_basic); joserfc, authlib's
JOSE library, verifies the ID token's signature against the provider's JWKS.
The claim checks are written out here, one refusal reason each, because each is
a separate attack: another client's token (aud), a token from another flow
(nonce), an old token (exp), another issuer's token (iss).

Every call goes through egress.guard: public addresses only, checked at
connect time, no redirects (SsoProviderAddressRefusedError otherwise, unless
the test-only ATLAS_SSO_ALLOW_HTTP_ISSUERS). Raises SsoProviderUnavailableError
when the provider cannot be reached or answers nonsense, SsoTokenRejectedError when it refuses the code or its token
fails a check. Bodies of the provider's answers never reach an error message.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from app.errors.sign_in import SsoProviderUnavailableError, SsoTokenRejectedError
from app.sso import egress

SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
_MAX_DOCUMENT_BYTES = 256 * 1024


@dataclass(frozen=True)
class Endpoints:
    """What discovery says about an issuer (the issuer it names must be the one asked about)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    allow_private: bool = False  # tests only (ATLAS_SSO_ALLOW_HTTP_ISSUERS): a provider on 127.0.0.1


def check_issuer_url(issuer: str, *, allow_http: bool) -> str:
    """The issuer, refused (ValueError, a message naming the fix) unless https (http only when allowed)."""
    parts = urlsplit(issuer)
    if parts.scheme != "https" and not (allow_http and parts.scheme == "http"):
        raise ValueError("must be an https URL (ATLAS_SSO_ALLOW_HTTP_ISSUERS admits http, for tests only)")
    if not parts.netloc or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("must be a plain URL: scheme, host and an optional path, no query or credentials")
    return issuer.rstrip("/")


def _get_json(url: str, *, timeout_s: float, what: str, allow_private: bool) -> dict[str, Any]:
    try:
        with egress.guard(requests.Session(), allow_private=allow_private) as http:
            response = http.get(url, timeout=timeout_s, allow_redirects=False, headers={"Accept": "application/json"})
        if response.status_code != 200 or len(response.content) > _MAX_DOCUMENT_BYTES:
            raise SsoProviderUnavailableError(f"the identity provider's {what} answered HTTP {response.status_code}")
        document = response.json()
    except (requests.RequestException, ValueError):
        raise SsoProviderUnavailableError(f"the identity provider's {what} could not be read ({url})") from None
    if not isinstance(document, dict):
        raise SsoProviderUnavailableError(f"the identity provider's {what} is not a JSON object")
    return document


def discover(issuer: str, *, timeout_s: float, allow_private: bool = False) -> Endpoints:
    """GET {issuer}/.well-known/openid-configuration; its `issuer` must be exactly the one registered."""
    document = _get_json(f"{issuer}/.well-known/openid-configuration", timeout_s=timeout_s, what="discovery document",
                         allow_private=allow_private)
    if str(document.get("issuer", "")).rstrip("/") != issuer:
        raise SsoProviderUnavailableError(
            f"the discovery document names issuer {str(document.get('issuer'))[:200]!r}, not {issuer!r}: register the"
            " provider with the issuer its discovery document names")
    try:
        return Endpoints(issuer=issuer, authorization_endpoint=str(document["authorization_endpoint"]),
                         token_endpoint=str(document["token_endpoint"]), jwks_uri=str(document["jwks_uri"]),
                         userinfo_endpoint=document.get("userinfo_endpoint"), allow_private=allow_private)
    except KeyError as missing:
        raise SsoProviderUnavailableError(f"the discovery document lacks {missing.args[0]}") from None


def authorization_url(endpoints: Endpoints, *, client_id: str, redirect_uri: str, scopes: list[str], state: str,
                      nonce: str, code_verifier: str, login_hint: str | None) -> str:
    """The provider's authorization URL: response_type=code, S256 PKCE, state and nonce."""
    session = OAuth2Session(client_id, redirect_uri=redirect_uri, scope=" ".join(scopes),
                            code_challenge_method="S256")
    extra = {"login_hint": login_hint} if login_hint else {}
    url, _ = session.create_authorization_url(endpoints.authorization_endpoint, state=state, nonce=nonce,
                                              code_verifier=code_verifier, **extra)
    return str(url)


def exchange_code(endpoints: Endpoints, *, client_id: str, client_secret: str, redirect_uri: str, code: str,
                  code_verifier: str, timeout_s: float) -> dict[str, Any]:
    """The token response for `code`; a refused code (used, expired, PKCE mismatch) is SsoTokenRejectedError."""
    session = OAuth2Session(client_id, client_secret, redirect_uri=redirect_uri,
                            token_endpoint_auth_method="client_secret_basic")
    egress.guard(session, allow_private=endpoints.allow_private)
    try:
        token = session.fetch_token(endpoints.token_endpoint, grant_type="authorization_code", code=code,
                                    code_verifier=code_verifier, timeout=timeout_s, allow_redirects=False)
    except OAuthError as refused:
        raise SsoTokenRejectedError(
            f"the identity provider refused the authorization code ({refused.error}): it was used already,"
            " has expired or belongs to another sign-in; start the sign-in again", reason="code") from None
    except (requests.RequestException, ValueError):
        raise SsoProviderUnavailableError("the identity provider's token endpoint could not be reached") from None
    finally:
        session.close()
    if not isinstance(token.get("id_token"), str):
        raise SsoTokenRejectedError("the identity provider answered without an ID token (is the openid scope"
                                    " requested and allowed for this client?)", reason="id_token")
    return dict(token)


def verify_id_token(id_token: str, *, endpoints: Endpoints, client_id: str, nonce: str, leeway_s: int,
                    timeout_s: float, now_s: float | None = None) -> dict[str, Any]:
    """The ID token's claims once its signature (the provider's JWKS) and iss, aud, azp, nonce, exp, iat hold."""
    jwks = _get_json(endpoints.jwks_uri, timeout_s=timeout_s, what="JWKS", allow_private=endpoints.allow_private)
    try:
        keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]  # a JWKS document, checked by joserfc
        claims = dict(jwt.decode(id_token, keys, algorithms=list(SIGNING_ALGORITHMS)).claims)
    except (JoseError, ValueError, TypeError):
        raise SsoTokenRejectedError("the ID token's signature does not verify with the identity provider's keys",
                                    reason="signature") from None
    now = time.time() if now_s is None else now_s
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else audiences if isinstance(audiences, list) else []
    if claims.get("iss") != endpoints.issuer:
        raise SsoTokenRejectedError("the ID token was issued by another issuer", reason="issuer")
    if client_id not in audiences or (len(audiences) > 1 and claims.get("azp") != client_id):
        raise SsoTokenRejectedError("the ID token was issued for another client (audience), not this provider's"
                                    " client id", reason="audience")
    if claims.get("nonce") != nonce:
        raise SsoTokenRejectedError("the ID token's nonce is not this sign-in's", reason="nonce")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, (int, float)) or exp <= now - leeway_s:
        raise SsoTokenRejectedError("the ID token has expired (check the identity provider's clock;"
                                    " ATLAS_SSO_CLOCK_SKEW_S allows some skew)", reason="expired")
    if not isinstance(iat, (int, float)) or iat > now + leeway_s:
        raise SsoTokenRejectedError("the ID token was issued in the future (check the identity provider's clock)",
                                    reason="issued_at")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise SsoTokenRejectedError("the ID token names no subject", reason="subject")
    return claims


def userinfo(endpoints: Endpoints, *, access_token: str, timeout_s: float) -> dict[str, Any]:
    """The UserInfo claims, for a provider that leaves email out of the ID token."""
    if not endpoints.userinfo_endpoint:
        return {}
    try:
        with egress.guard(requests.Session(), allow_private=endpoints.allow_private) as http:
            response = http.get(endpoints.userinfo_endpoint, timeout=timeout_s, allow_redirects=False,
                                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"})
        document = response.json() if response.status_code == 200 else {}
    except (requests.RequestException, ValueError):
        raise SsoProviderUnavailableError("the identity provider's userinfo endpoint could not be read") from None
    return document if isinstance(document, dict) else {}
