"""SCIM 2.0 provisioning per org (RFC 7643/7644, on scim2-models): an identity provider keeps an org's people
and teams in step with its directory.

- `tokens`: the org's SCIM bearer tokens (created by an owner or admin, stored hashed).
- `users`: SCIM Users, the org's members (what the provider sent is kept per org in scim_users).
- `groups`: SCIM Groups, the org's teams (app/teams).
- `discovery`: ServiceProviderConfig, Schemas and ResourceTypes.
The HTTP views are app/api/scim_routes.py; the mapping is documented in docs/scim.md.
"""
