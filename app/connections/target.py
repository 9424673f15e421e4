"""What a tenant may say about where its datasource is: a PostgreSQL URL, read strictly.

Only host, port, database, user, password and `sslmode` are accepted. Every
other libpq parameter is refused by name: several read local files
(`passfile`, `service`, `sslkey`, `sslrootcert`...), `hostaddr` would bypass
the host check, `options` would set server settings. The conninfo Atlas
connects with is built from checked parts only, with the checked address as
`hostaddr` (app/connections/hosts.py) and every other libpq parameter pinned
(app/connections/conninfo.py), so nothing comes from Atlas's own environment.
`verify-ca` is refused: verification uses the system's trusted roots, which
libpq allows only with `verify-full`.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from app.connections.conninfo import tenant_conninfo
from app.errors import ValidationError

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-full")


@dataclass(frozen=True)
class Target:
    """A datasource as stored: no password here (that travels encrypted, or as an argument)."""

    host: str
    port: int
    dbname: str
    username: str
    sslmode: str = "prefer"

    def public_url(self) -> str:
        """The URL without its password: safe to show, log and audit."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"postgresql://{self.username}@{host}:{self.port}/{self.dbname}?sslmode={self.sslmode}"

    def conninfo(self, *, password: str, hostaddr: str, application_name: str) -> str:
        """Every libpq parameter explicit: an empty password stays empty (conninfo.py)."""
        return tenant_conninfo(host=self.host, hostaddr=hostaddr, port=self.port, dbname=self.dbname,
                               user=self.username, password=password, sslmode=self.sslmode,
                               application_name=application_name)


def _invalid(message: str) -> ValidationError:
    return ValidationError(f"invalid connection: url {message}", details={"fields": {"url": message}})


def parse_url(url: object) -> tuple[Target, str | None]:
    """The target and the URL's password (None when it has none). Raises ValidationError naming the problem."""
    if not isinstance(url, str) or not url.strip():
        raise _invalid("is required: postgresql://user:password@host:5432/dbname")
    if len(url) > 2000:
        raise _invalid("must be at most 2000 characters")
    try:
        parts = urlsplit(url.strip())
        port = parts.port or 5432
    except ValueError as exc:
        raise _invalid(f"cannot be read ({exc})") from None
    if parts.scheme not in ("postgresql", "postgres"):
        raise _invalid("must start with postgresql://")
    if parts.fragment:
        raise _invalid("must not have a #fragment")
    host = parts.hostname or ""
    if not host or "," in (parts.netloc.rpartition("@")[2]):
        raise _invalid("must name exactly one host")
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname or "/" in dbname:
        raise _invalid("must name a database (postgresql://user@host:5432/dbname)")
    username = unquote(parts.username or "")
    if not username:
        raise _invalid("must name the read-only role to log in as (postgresql://role@host/dbname)")
    sslmode = "prefer"
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key != "sslmode":
            raise _invalid(f"parameter {key!r} is not allowed; only sslmode is")
        if value == "verify-ca":
            raise _invalid("sslmode verify-ca is not available: use verify-full (the server's certificate"
                           " checked against the system's trusted roots, and its name against the host)")
        if value not in SSL_MODES:
            raise _invalid(f"sslmode must be one of {', '.join(SSL_MODES)}")
        sslmode = value
    for name, value in (("host", host), ("database", dbname), ("user", username)):
        if len(value) > (253 if name == "host" else 63) or any(ord(c) < 32 for c in value):
            raise _invalid(f"{name} is too long or holds control characters")
    password = unquote(parts.password) if parts.password is not None else None
    return Target(host=host.lower(), port=port, dbname=dbname, username=username, sslmode=sslmode), password
