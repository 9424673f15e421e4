"""Proving an SSO provider's email domains: a DNS TXT record, as Better Auth's SSO plugin asks for.

The org admin publishes `_better-auth-token-{providerId}.{domain}` with the
value `_better-auth-token-{providerId}={token}` (or the bare token); every
domain of the provider must carry it. A platform admin may verify instead
(app/api/sso_routes.py), for a domain whose DNS the org cannot change.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import dns.exception
import dns.resolver

if TYPE_CHECKING:  # a type only: app/sso/__init__.py imports this module for its default resolver
    from app.sso import TxtResolver

TOKEN_PREFIX = "better-auth-token"
DNS_TIMEOUT_S = 5.0


def record_name(provider_id: str) -> str:
    """The TXT record's label, `_better-auth-token-{providerId}` (under each domain)."""
    return f"_{TOKEN_PREFIX}-{provider_id}"


def resolve_txt(name: str) -> list[str]:
    """The TXT strings published at `name` (each record's parts joined); none when it does not resolve."""
    try:
        answer = dns.resolver.resolve(name, "TXT", lifetime=DNS_TIMEOUT_S)
    except (dns.exception.DNSException, OSError):
        return []
    return [b"".join(record.strings).decode("utf-8", "replace") for record in answer]


def unproven_domains(*, provider_id: str, domains: list[str], token: str, resolve: TxtResolver) -> list[str]:
    """The domains whose TXT record does not carry the token (empty: all proven)."""
    label = record_name(provider_id)
    expected = {f"{label}={token}", token}
    return [domain for domain in domains
            if not expected.intersection(value.strip() for value in resolve(f"{label}.{domain}"))]
