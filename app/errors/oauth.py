"""OAuth refusals (app/oauth/), rendered as RFC 6749's `{"error", "error_description"}` by app/api/oauth_routes.py."""
from __future__ import annotations

from app.errors import AtlasError


class OAuthError(AtlasError):
    """An OAuth request (app/oauth/) is malformed; rendered as RFC 6749's `{"error", "error_description"}`."""

    status = 400
    code = "invalid_request"


class InvalidClientError(OAuthError):
    """The client_id is unknown or was not issued by this server (register again: POST /oauth/register)."""

    status = 401
    code = "invalid_client"


class InvalidGrantError(OAuthError):
    """The code or refresh token is unknown, expired, used, revoked, or bound to another client or redirect_uri."""

    code = "invalid_grant"


class InvalidClientMetadataError(OAuthError):
    """A registration (RFC 7591) asks for something this server does not offer; the message names the field."""

    code = "invalid_client_metadata"


class InvalidRedirectUriError(OAuthError):
    """A redirect URI is not https, nor http on a loopback address, or carries a fragment."""

    code = "invalid_redirect_uri"


class InvalidScopeError(OAuthError):
    """The scope asked for is not one of `scopes_supported` (`mcp`)."""

    code = "invalid_scope"


class InvalidTargetError(OAuthError):
    """The resource (RFC 8707) is not this deployment's MCP endpoint (ATLAS_OAUTH_MCP_URL + /mcp)."""

    code = "invalid_target"


class UnsupportedGrantTypeError(OAuthError):
    """Only authorization_code (with PKCE S256) and refresh_token are granted."""

    code = "unsupported_grant_type"
