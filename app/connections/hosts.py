"""Which hosts an org connection may point at: the SSRF guard.

A tenant chooses a connection's URL, so without a guard Atlas would connect
wherever a tenant asks: to internal services, metadata endpoints, other
databases. The platform setting ATLAS_CONNECTION_ALLOWED_HOSTS lists what is
allowed (comma-separated `host`, `host:port`, `ip`, `ip:port` or a CIDR such
as `10.1.0.0/24`); unset, only the configured database's host and port are.

A tenant's host name is resolved, and every address it resolves to must be
one the list allows: an address or network listed, or an address of a listed
name (resolved at the same time), on an allowed port. So a name that points
at an internal service is refused whatever it is called. The connection then
uses the checked address (libpq's `hostaddr`), so DNS cannot change between
the check and the connect; the check runs again whenever a pool is built.
"""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from psycopg.conninfo import conninfo_to_dict

from app.errors import ConfigurationError, ConnectionHostRefusedError

SETTING = "ATLAS_CONNECTION_ALLOWED_HOSTS"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Allowed:
    """One entry: a name or a network, and a port (None: any)."""

    name: str | None
    network: Network | None
    port: int | None


def _split_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):  # [::1]:5432
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else None
    if entry.count(":") == 1:
        host, port = entry.split(":")
        return host, int(port)
    return entry, None


def parse_allowed(value: object, *, database_url: str) -> tuple[Allowed, ...]:
    """The setting's entries; unset: the database host and port of `database_url`."""
    if value is None or value == "":
        info = conninfo_to_dict(database_url)
        host = str(info.get("host") or "localhost").split(",")[0]
        value = f"{host}:{info.get('port') or 5432}" if not host.startswith("/") else ""
    raw = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    entries = []
    for item in (str(i).strip() for i in raw):
        if not item:
            continue
        try:
            host, port = _split_port(item)
            network: Network | None = ipaddress.ip_network(host, strict=False) if _is_address(host) else None
        except ValueError:
            raise ConfigurationError(f"{SETTING}: {item!r} is not a host, host:port or CIDR") from None
        entries.append(Allowed(name=None if network else host.lower(), network=network, port=port))
    return tuple(entries)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_network(host, strict=False)
    except ValueError:
        return False
    return True


class HostPolicy:
    """check(host, port) -> the address to connect to, or ConnectionHostRefusedError naming the setting."""

    def __init__(self, allowed: Iterable[Allowed]) -> None:
        self.allowed = tuple(allowed)

    def check(self, host: str, port: int) -> str:
        host = host.strip().lower().strip("[]")
        if not host or host.startswith("/") or "," in host:
            raise self._refused(host, port, "a connection names one TCP host (no socket paths, no host lists)")
        literal = _is_address(host) and "/" not in host
        addresses = [ipaddress.ip_address(host)] if literal else self._resolve(host, port)
        for address in addresses:
            if not self._address_allowed(address, port):
                raise self._refused(host, port, "that address and port are not listed" if literal
                                    else f"it resolves to {address}, which is not allowed")
        return str(addresses[0])

    def _address_allowed(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> bool:
        for entry in self.allowed:
            if entry.port not in (None, port):
                continue
            if entry.network is not None and address in entry.network:
                return True
            if entry.name is not None and address in self._resolve(entry.name, port):
                return True
        return False

    def _resolve(self, name: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        try:
            infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise self._refused(name, port, "the name does not resolve") from None
        found = []
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
    return host if entry.port is None else f"{host}:{entry.port}"
