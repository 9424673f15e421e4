"""Atlas's calls to an identity provider go to public addresses only (no SSRF through an issuer URL).

An org admin chooses the issuer, and the discovery document it serves chooses
the token, JWKS and userinfo URLs: without a check, registering a provider would
make Atlas fetch http://169.254.169.254/ (cloud metadata), a database on
127.0.0.1 or a service on 10.x. `session()` answers a requests Session whose
every connection resolves the host itself, refuses it when any address is
loopback, private, link-local, multicast, unspecified or otherwise not global
(IPv4, IPv6, IPv4 inside IPv6), and connects to the address it checked: the
check is at connect time, per connection, so a name that answers a public
address at registration and 127.0.0.1 later (DNS rebinding) is refused then.
Redirects are never followed (every call passes allow_redirects=False) and
proxy variables are ignored (the proxy's address would be checked instead of
the provider's). ATLAS_SSO_ALLOW_HTTP_ISSUERS, for tests only, lifts the check.
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError

from app.errors.sign_in import SsoProviderAddressRefusedError

SETTING = "ATLAS_SSO_ALLOW_HTTP_ISSUERS"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def refusal(address: str) -> str | None:
    """Why Atlas must not connect to `address` (an IP literal), or None for a public unicast address."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (
            ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None)
        if embedded is not None:
            ip = embedded
    for kind in ("loopback", "private", "link_local", "multicast", "unspecified", "reserved"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if ip.is_global else "non-global"


def check_host(host: str, port: int) -> str:
    """The first address of `host`, once every address it resolves to is public; else the refusal."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise
    addresses = [str(info[4][0]) for info in infos]
    for address in addresses:
        why = refusal(address)
        if why is not None:
            raise SsoProviderAddressRefusedError(
                f"the identity provider's host {host!r} resolves to {address}, a {why} address: Atlas calls"
                f" identity providers on public addresses only ({SETTING} lifts this, for tests only)")
    return addresses[0]


class _Guarded:
    """Mixed into urllib3's connections: resolve, check, then connect to exactly the checked address."""

    _dns_host: str
    host: str
    port: int

    def _new_conn(self) -> socket.socket:
        try:
            checked = check_host(self._dns_host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        name, self._dns_host = self._dns_host, checked
        try:
            return super()._new_conn()  # type: ignore[misc]
        finally:
            self._dns_host = name


class _GuardedHTTPConnection(_Guarded, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_Guarded, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


def guard(session: requests.Session, *, allow_private: bool) -> requests.Session:
    """`session`, its connections checked (unless allow_private, tests only) and proxies ignored."""
    if not allow_private:
        session.trust_env = False
        adapter = GuardedAdapter()
        session.mount("https://", adapter)
        session.mount("http://", adapter)
    return session
