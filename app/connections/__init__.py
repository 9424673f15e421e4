"""Org connections: each org's own PostgreSQL datasources (the `connection` resource).

`build_connections` makes the service from its settings: the encryption
keys (ATLAS_CONNECTION_KEYS, crypto.py) and the host allowlist
(ATLAS_CONNECTION_ALLOWED_HOSTS, hosts.py). See docs/connections.md.
"""
from __future__ import annotations

import socket

import psycopg
from psycopg.conninfo import conninfo_to_dict

from app.config import Settings
from app.connections.hosts import HostPolicy, parse_allowed
from app.connections.service import DEFAULT, Connections, OwnDatabase, Resolved
from app.credentials import CredentialBox
from app.db import Database
from app.failover import servers
from app.pools import PoolRegistry

__all__ = ["DEFAULT", "Connections", "CredentialBox", "HostPolicy", "Resolved", "build_connections"]


def build_connections(settings: Settings, *, db: Database, pools: PoolRegistry) -> Connections:
    """Raises ConfigurationError for a malformed key or allowlist entry, before anything opens."""
    box = CredentialBox(settings.connections.keys)
    hosts = HostPolicy(parse_allowed(settings.connections.allowed_hosts))
    return Connections(db=db, box=box, hosts=hosts, pools=pools, own=own_database(settings))


def own_database(settings: Settings) -> OwnDatabase:
    """Atlas's database (its name, the address and port of each of its servers: every node of a
    multi-host DATABASE_URL) and every role Atlas logs in as."""
    info = conninfo_to_dict(settings.database.url)
    found: set[tuple[str, int]] = set()
    for host, port in servers(settings.database.url):
        if host.startswith("/"):
            continue
        try:
            found |= {(str(i[4][0]), port) for i in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
        except OSError:
            found.add((host, port))
    roles = {*vars(settings.database.roles).values(), str(info.get("user") or "postgres")}
    urls = [getattr(settings.database, name) for name in type(settings.database).model_fields
            if name.endswith("database_url")]
    urls.append(settings.replica.replica_url)
    for url in urls:
        if isinstance(url, str) and url:
            try:
                roles.add(str(conninfo_to_dict(url).get("user") or ""))
            except psycopg.ProgrammingError:
                continue  # a malformed URL fails where it is used, with its own message
    return OwnDatabase(dbname=str(info.get("dbname") or "atlas"), servers=frozenset(found),
                       roles=frozenset(r for r in roles if r))
