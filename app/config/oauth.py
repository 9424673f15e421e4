"""OAuth 2.1 for the MCP HTTP transport (app/oauth/): where the protected resource is, and token lifetimes."""
from __future__ import annotations

from pydantic import Field, field_validator

from app.config.base import Group


class OAuthSettings(Group):
    """The authorization server `atlas serve` runs for remote MCP clients (docs/mcp-oauth.md)."""

    title = "OAuth for MCP clients"
    model_config = Group.model_config | {"env_prefix": "ATLAS_OAUTH_"}
    mcp_url: str = Field(default="", description=(
        "public base URL of `atlas mcp --http` (`https://mcp.example.com`); its resource is `<url>/mcp`. "
        "`atlas serve` accepts only that resource in authorization requests (unset: any `.../mcp` URL, and "
        "`atlas mcp --http` uses `http://<host>:<port>`)"))
    code_ttl_s: int = Field(default=60, ge=5, le=600, description="lifetime of an authorization code (single use)")
    access_ttl_s: int = Field(default=3600, ge=60, le=86400, description="lifetime of an access token")
    refresh_ttl_s: int = Field(default=30 * 86400, ge=3600, le=365 * 86400, description=(
        "lifetime of a refresh token (each use replaces it: rotation)"))

    @field_validator("mcp_url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as https://mcp.example.com")
        return value.rstrip("/")
