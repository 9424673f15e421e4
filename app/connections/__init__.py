"""Org connections: each org's own PostgreSQL datasources (the `connection` resource).

`build_connections` makes the service from the app's config: the encryption
keys (ATLAS_CONNECTION_KEYS, crypto.py) and the host allowlist
(ATLAS_CONNECTION_ALLOWED_HOSTS, hosts.py). See README "Connections".
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.config import Settings
from app.connections.crypto import CredentialBox, parse_keys
from app.connections.hosts import HostPolicy, parse_allowed
from app.connections.service import DEFAULT, Connections, Resolved
from app.db import Database
from app.pools import PoolRegistry

__all__ = ["DEFAULT", "Connections", "CredentialBox", "HostPolicy", "Resolved", "build_connections"]


def build_connections(config: Mapping[str, Any], settings: Settings, *, db: Database,
                      pools: PoolRegistry) -> Connections:
    """Raises ConfigurationError for a malformed key or allowlist entry, before anything opens."""
    box = CredentialBox(parse_keys(config.get("CONNECTION_KEYS")))
    hosts = HostPolicy(parse_allowed(config.get("CONNECTION_ALLOWED_HOSTS"), database_url=settings.database_url))
    return Connections(db=db, box=box, hosts=hosts, pools=pools)
