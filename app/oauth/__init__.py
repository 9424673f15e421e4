"""OAuth 2.1 for remote MCP clients, as the MCP authorization spec (2025-06-18) describes.

`atlas serve` is the authorization server (its views: app/api/oauth_routes.py and the consent page
app/console/oauth_consent.py); `atlas mcp --http` is the protected resource (app/mcp/http.py publishes
its RFC 9728 metadata and answers 401 with `WWW-Authenticate: Bearer resource_metadata=...`).

    clients.py   dynamic client registration (RFC 7591): public clients, ids signed by the server
    grants.py    codes (PKCE S256, single use, short-lived) and tokens (bound to one org, user, client,
                 resource and scope; refresh rotation; revocation), each an org-scoped statement
    metadata.py  the two metadata documents (RFC 8414, RFC 9728) and the consent form's CSRF token

A token's text names its org (`mcp_at_<org hex>_<secret>`), so resolving it is an ordinary org-scoped
read (`app.oauth_token_identity`, sql/150_mcp_oauth.sql) joined with the member's current role: a
revoked token or a removed member stops the very next MCP call.
"""
