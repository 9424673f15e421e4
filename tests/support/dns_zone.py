"""A TXT zone for SSO domain-proof tests (ATLAS_SSO_TXT_RESOLVER=tests.support.dns_zone:resolve_txt).

The sandbox has no DNS the tests can publish to, so the records live here; the
lookup Atlas runs in production is dnspython's (app/sso/domains.py resolve_txt).
"""
from __future__ import annotations

RECORDS: dict[str, list[str]] = {}


def resolve_txt(name: str) -> list[str]:
    return list(RECORDS.get(name.lower(), []))
