"""An org's SSO providers: rows of sql/141_sso.sql, their answers in Better Auth's shape, and discovery.

Every read and write but `find` runs in the org's own transaction (RLS admits
only the org's rows). `find` is the one pre-auth door: an identity transaction
whose app.sso_lookup names a provider id, a verified email domain or an org
slug, and which sees exactly the rows that name admits.
"""
from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from app.credentials import CredentialBox
from app.db import Database, Scope
from app.instants import iso_ms

COLUMNS = sql.SQL("org_id, id, provider_id, issuer, client_id, client_secret, scopes, domains, domain_verified,"
                  " verification_token, role_claim, role_mapping, default_role, sso_required, created_by,"
                  " created_at, updated_at")


def _q(template: str, **parts: sql.Composable) -> sql.Composed:
    return sql.SQL(template).format(c=COLUMNS, **parts)


@dataclass(frozen=True)
class Found:
    org_id: uuid.UUID
    provider_id: str


def find(db: Database, *, provider_id: str | None = None, domain: str | None = None,
         slug: str | None = None) -> Found | None:
    """The org and provider a sign-in names (a provider id, a verified email domain or an org slug), or None."""
    if provider_id is not None:
        with db.identity_transaction(sso_lookup=provider_id) as scope:
            row = scope.fetch_one("SELECT org_id, provider_id FROM sso_providers"  # the first registered keeps it
                                  " WHERE provider_id = app.sso_lookup() ORDER BY created_at, id LIMIT 1")
    elif domain is not None:
        with db.identity_transaction(sso_lookup=domain) as scope:
            rows = scope.fetch_all("SELECT org_id, provider_id FROM sso_providers"
                                   " WHERE domain_verified AND domains @> ARRAY[app.sso_lookup()] LIMIT 2")
        row = rows[0] if len(rows) == 1 else None  # two orgs proving one domain: neither is chosen
    elif slug is not None:
        with db.identity_transaction(sso_lookup=slug) as scope:
            org_id = scope.fetch_value("SELECT id FROM organizations WHERE slug = app.sso_lookup()")
        if org_id is None:
            return None
        with db.transaction(org_id) as scope:
            row = scope.fetch_one("SELECT org_id, provider_id FROM sso_providers ORDER BY created_at, id LIMIT 1")
    else:
        return None
    return None if row is None else Found(org_id=row["org_id"], provider_id=row["provider_id"])


def get(scope: Scope, provider_id: str, *, for_update: bool = False) -> dict | None:
    lock = sql.SQL(" FOR UPDATE" if for_update else "")
    return scope.fetch_one(_q("SELECT {c} FROM sso_providers WHERE provider_id = %s{lock}", lock=lock), (provider_id,))


def list_of_org(scope: Scope) -> list[dict]:
    return scope.fetch_all(_q("SELECT {c} FROM sso_providers ORDER BY created_at, id"))


def insert(scope: Scope, *, provider_id: str, issuer: str, client_id: str, client_secret: str, scopes: list[str],
           domains: list[str], role_claim: str | None, role_mapping: dict[str, str], default_role: str,
           sso_required: bool, created_by: uuid.UUID | None) -> dict:
    """The new row (client_secret already encrypted); a taken provider id raises UniqueViolation."""
    row = scope.fetch_one(_q(
        "INSERT INTO sso_providers (org_id, provider_id, issuer, client_id, client_secret, scopes, domains,"
        " verification_token, role_claim, role_mapping, default_role, sso_required, created_by)"
        " VALUES (%(org)s, %(pid)s, %(issuer)s, %(cid)s, %(secret)s, %(scopes)s, %(domains)s, %(token)s,"
        " %(claim)s, %(mapping)s, %(role)s, %(required)s, %(by)s) RETURNING {c}"),
        {"org": scope.org_id, "pid": provider_id, "issuer": issuer, "cid": client_id, "secret": client_secret,
         "scopes": scopes, "domains": domains, "token": secrets.token_urlsafe(24), "claim": role_claim,
         "mapping": Jsonb(role_mapping), "role": default_role, "required": sso_required, "by": created_by})
    assert row is not None
    return row


# Column of each changeable field; a change of issuer, client or domains un-verifies the domains.
UPDATABLE = {"issuer": "issuer", "client_id": "client_id", "client_secret": "client_secret", "scopes": "scopes",
             "domains": "domains", "role_claim": "role_claim", "role_mapping": "role_mapping",
             "default_role": "default_role", "sso_required": "sso_required"}
RESETS_VERIFICATION = frozenset({"domains"})


def update(scope: Scope, provider_id: str, changes: dict[str, Any]) -> dict | None:
    """Apply `changes` (keys of UPDATABLE) one statement each; the row after, or None if absent."""
    for key, value in changes.items():
        column = sql.Identifier(UPDATABLE[key])  # a fixed name, never input
        scope.execute(sql.SQL("UPDATE sso_providers SET {} = %s, updated_at = now() WHERE provider_id = %s")
                      .format(column), (Jsonb(value) if key == "role_mapping" else value, provider_id))
    if RESETS_VERIFICATION.intersection(changes):
        scope.execute("UPDATE sso_providers SET domain_verified = false, verification_token = %s"
                      " WHERE provider_id = %s", (secrets.token_urlsafe(24), provider_id))
    return get(scope, provider_id)


def delete(scope: Scope, provider_id: str) -> bool:
    return scope.fetch_one("DELETE FROM sso_providers WHERE provider_id = %s RETURNING id", (provider_id,)) is not None


def mark_verified(scope: Scope, provider_id: str, *, domains: list[str]) -> bool:
    """Set domain_verified, only if the domains are still the ones proven (a concurrent change wins)."""
    return scope.fetch_one("UPDATE sso_providers SET domain_verified = true, updated_at = now()"
                           " WHERE provider_id = %s AND domains = %s RETURNING id",
                           (provider_id, domains)) is not None


def domains_taken_elsewhere(db: Database, *, org_id: uuid.UUID, domains: list[str]) -> list[str]:
    """The domains another org's provider has already proven: one verified domain routes to one org."""
    taken = []
    for domain in domains:
        found = find(db, domain=domain)
        if found is not None and found.org_id != org_id:
            taken.append(domain)
    return taken


def callback_url(public_url: str, provider_id: str) -> str:
    """The redirect URI to register at the provider: {PUBLIC_URL}/api/auth/sso/callback/{providerId}."""
    return f"{public_url.rstrip('/')}/api/auth/sso/callback/{provider_id}"


def provider_json(row: dict, *, public_url: str) -> dict[str, Any]:
    """A provider as Better Auth's SSO plugin answers it (sanitized: the secret never leaves), plus Atlas's fields."""
    client_id = str(row["client_id"])
    return {
        "id": str(row["id"]),
        "providerId": row["provider_id"],
        "type": "oidc",
        "issuer": row["issuer"],
        "domain": ",".join(row["domains"]),
        "organizationId": str(row["org_id"]),
        "userId": None if row["created_by"] is None else str(row["created_by"]),
        "domainVerified": row["domain_verified"],
        "oidcConfig": {
            "issuer": row["issuer"],
            "pkce": True,
            "clientIdLastFour": f"****{client_id[-4:]}",
            "discoveryEndpoint": f"{row['issuer']}/.well-known/openid-configuration",
            "scopes": list(row["scopes"]),
            "tokenEndpointAuthentication": "client_secret_basic",
        },
        "redirectURI": callback_url(public_url, row["provider_id"]),
        "roleClaim": row["role_claim"],
        "roleMapping": dict(row["role_mapping"] or {}),
        "defaultRole": row["default_role"],
        "ssoRequired": row["sso_required"],
        "createdAt": iso_ms(row["created_at"]),
        "updatedAt": iso_ms(row["updated_at"]),
    }


def rotate_secrets(scope: Scope, box: CredentialBox) -> tuple[int, int]:
    """(providers, re-encrypted) for the scope's org: each client secret moved under the newest key."""
    rows = scope.fetch_all("SELECT provider_id, client_secret FROM sso_providers ORDER BY provider_id FOR UPDATE")
    rotated = 0
    for row in rows:
        if not box.is_current(row["client_secret"]):
            scope.execute("UPDATE sso_providers SET client_secret = %s WHERE provider_id = %s",
                          (box.rotate(row["client_secret"]), row["provider_id"]))
            rotated += 1
    return len(rows), rotated
