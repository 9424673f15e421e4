"""Which hosts (and databases) an org connection may point at: the SSRF guard.

A tenant chooses a connection's URL, so without a guard Atlas would connect
wherever a tenant asks: to internal services, metadata endpoints, other
databases. The platform setting ATLAS_CONNECTION_ALLOWED_HOSTS lists what is
allowed (comma-separated `host`, `host:port`, `ip`, `ip:port` or a CIDR such
as `10.1.0.0/24`, each optionally followed by `/database` to allow only that
database there). Unset or empty, nothing is: org connections are off until an
operator lists hosts. A server's maintenance databases (`postgres`,
`template0`, `template1`) are refused unless an entry names them.

A tenant's host name is resolved, and every address it resolves to must be
one the list allows: an address or network listed, or an address of a listed
name (resolved at the same time), on an allowed port, for that database. So a
name that points at an internal service is refused whatever it is called. The
connection then uses the checked address (libpq's `hostaddr`), so DNS cannot
change between the check and the connect; the check runs again whenever a
pool is built.
"""
from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.errors.configuration import ConfigurationError
from app.errors.query import ConnectionHostRefusedError

SETTING = "ATLAS_CONNECTION_ALLOWED_HOSTS"
MAINTENANCE_DATABASES = frozenset({"postgres", "template0", "template1"})
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# [v6 address or network]  |  bare v6 (two colons or more; no port then)  |  name or v4 (optionally /prefix)
_ENTRY = re.compile(r"""^(?:\[(?P<bracketed>[^\]]+)\]|(?P<bare6>[0-9a-fA-F.]*:[0-9a-fA-F.]*:[0-9a-fA-F:.]*(?:/\d{1,3})?)
                       |(?P<host>[^:/\[\]\s]+(?:/\d{1,3})?))
                       (?::(?P<port>\d{1,5}))?(?:/(?P<dbname>[^/\s]{1,63}))?$""", re.VERBOSE)


@dataclass(frozen=True)
class Allowed:
    """One entry: a name or a network, a port (None: any) and a database (None: any but the maintenance ones)."""

    name: str | None
    network: Network | None
    port: int | None
    dbname: str | None = None


def _entry(item: str) -> Allowed:
    match = _ENTRY.match(item)
    if match is None:
        raise ValueError(item)
    host = match["bracketed"] or match["bare6"] or match["host"]
    port = int(match["port"]) if match["port"] else None
    if port is not None and not 0 < port < 65536:
        raise ValueError(item)
    network: Network | None = ipaddress.ip_network(host, strict=False) if _is_address(host) else None
    if network is None and "/" in host:
        raise ValueError(item)  # a name with a /prefix: write name:port/database
    return Allowed(name=None if network else host.lower(), network=network, port=port, dbname=match["dbname"])


def parse_allowed(raw: Sequence[str]) -> tuple[Allowed, ...]:
    """The setting's entries (ATLAS_CONNECTION_ALLOWED_HOSTS, already split); none: org connections are off."""
    entries = []
    for item in (str(i).strip() for i in raw):
        if not item:
            continue
        try:
            entries.append(_entry(item))
        except ValueError:
            raise ConfigurationError(
                f"{SETTING}: {item!r} is not a host, host:port, CIDR or one of those followed by /database"
            ) from None
    return tuple(entries)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_network(host, strict=False)
    except ValueError:
        return False
    return True


class HostPolicy:
    """check(host, port, dbname) -> the address to connect to, or ConnectionHostRefusedError naming the setting."""

    def __init__(self, allowed: Iterable[Allowed]) -> None:
        self.allowed = tuple(allowed)

    def check(self, host: str, port: int, dbname: str) -> str:
        if not self.allowed:
            raise ConnectionHostRefusedError(
                f"org connections are off on this server: the platform setting {SETTING} lists no host; an"
                " operator must list the hosts (host:port, or host:port/database) tenants may connect to",
                details={"fields": {"url": f"no host is allowed: {SETTING} is empty"}})
        host = host.strip().lower().strip("[]")
        if not host or host.startswith("/") or "," in host:
            raise self._refused(host, port, "a connection names one TCP host (no socket paths, no host lists)")
        literal = _is_address(host) and "/" not in host
        addresses = [ipaddress.ip_address(host)] if literal else self._resolve(host, port)
        maintenance = dbname in MAINTENANCE_DATABASES
        for address in addresses:
            if not self._allowed(address, port, dbname, named_only=maintenance):
                if maintenance and self._allowed(address, port, dbname, named_only=False):
                    raise self._refused(host, port, f"{dbname!r} is a maintenance database: it is allowed only"
                                        f" where an entry names it, as host:{port}/{dbname}")
                where = "that address and port are not listed" if literal else \
                    f"it resolves to {address}, which is not allowed"
                raise self._refused(host, port, f"{where} for database {dbname!r}")
        return str(addresses[0])

    def _allowed(self, address: Address, port: int, dbname: str, *, named_only: bool) -> bool:
        for entry in self.allowed:
            if entry.port not in (None, port):
                continue
            if entry.dbname is None and named_only or entry.dbname not in (None, dbname):
                continue
            if entry.network is not None and address in entry.network:
                return True
            if entry.name is not None and address in self._resolve(entry.name, port, entry=True):
                return True
        return False

    def _resolve(self, name: str, port: int, *, entry: bool = False) -> list[Address]:
        """The addresses of a name; none for a listed name that does not resolve (it allows nothing)."""
        try:
            infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            if entry:
                return []
            raise self._refused(name, port, "the name does not resolve") from None
        found: list[Address] = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            if address not in found:
                found.append(address)
        return found

    def _refused(self, host: str, port: int, why: str) -> ConnectionHostRefusedError:
        listed = ", ".join(_describe(a) for a in self.allowed) or "nothing"
        return ConnectionHostRefusedError(
            f"connections to {host}:{port} are not allowed ({why}); the platform setting {SETTING}"
            f" allows: {listed}", details={"fields": {"url": f"host not allowed by {SETTING}"}})


def _describe(entry: Allowed) -> str:
    network = entry.network
    if network is not None and network.prefixlen == network.max_prefixlen:
        host = str(network.network_address)
    else:
        host = entry.name if entry.name is not None else str(network)
    if ":" in host and entry.network is not None and (entry.port is not None or entry.dbname is not None):
        host = f"[{host}]"
    described = host if entry.port is None else f"{host}:{entry.port}"
    return described if entry.dbname is None else f"{described}/{entry.dbname}"
