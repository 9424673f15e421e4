"""Single sign-on over OpenID Connect, per org (issue 30 item 1; docs/sso.md).

An org admin registers its identity provider (providers.py: issuer, client id,
the client secret encrypted under ATLAS_CONNECTION_KEYS, the email domains it
may assert); the domains are proven by a DNS TXT record or by a platform admin
(domains.py). A sign-in finds the org by provider id, verified email domain or
org slug, and runs the authorization-code flow with PKCE, state and nonce kept
server-side, single use, for FLOW_TTL_S (flow.py, oidc.py); the callback checks
the ID token, creates or links the user and their membership just in time, and
opens a session bound to that org (accounts.py). An org may require SSO:
passwords are then refused for its members (accounts.py `refuse_password`).

Nothing here imports Flask: the views are app/api/sso_routes.py.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable

from app.config import SsoSettings
from app.errors.configuration import ConfigurationError

FLOW_TTL_S = 600  # how long a started sign-in may take at the provider
HTTP_TIMEOUT_S = 10.0  # each call to the provider (discovery, token, JWKS, userinfo)
BINDING_COOKIE = "better-auth.sso_binding"  # ties a flow to the browser that started it (login CSRF)

TxtResolver = Callable[[str], list[str]]

__all__ = ["BINDING_COOKIE", "FLOW_TTL_S", "HTTP_TIMEOUT_S", "SsoSettings", "TxtResolver", "txt_resolver"]


def txt_resolver(settings: SsoSettings) -> TxtResolver:
    """The TXT lookup: dnspython's by default, or the module:function ATLAS_SSO_TXT_RESOLVER names (tests)."""
    if not settings.txt_resolver:
        from app.sso.domains import resolve_txt
        return resolve_txt
    module, _, name = settings.txt_resolver.partition(":")
    try:
        found: TxtResolver = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigurationError(f"ATLAS_SSO_TXT_RESOLVER {settings.txt_resolver!r} is not module:function") from exc
    return found
