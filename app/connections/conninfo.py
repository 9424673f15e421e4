"""The conninfo of a tenant's datasource: every libpq parameter explicit, nothing borrowed from Atlas's host.

libpq fills any parameter a conninfo leaves out from the process environment
(`PGPASSWORD`, `PGPASSFILE`, `PGSSLCERT`, `PGOPTIONS`...) and then from files
under the server user's home (`~/.pgpass`, `~/.postgresql/postgresql.crt`,
`root.crt`...). For Atlas's own database that is the point; for a server a
tenant chose it would hand the tenant Atlas's credentials. Setting
environment variables per connection is not an option in a threaded server,
so instead every parameter that has an environment default gets a value
here: ours where it matters (no password file, no client certificate, no
Kerberos, no `options`), libpq's compiled default otherwise. An explicit
value, even an empty one, is never replaced by libpq.

Four variables a conninfo cannot override: `PGSERVICE` (a service name is looked
up even when given as empty) and `PGDATESTYLE`, `PGTZ`, `PGGEQO` (sent as
start-up settings whatever the conninfo says). While any of them is set in
Atlas's environment, tenant connections are refused with a message naming it.

`tenant_conninfo` fails closed: a libpq that knows a parameter with an
environment default that Atlas has no value for (a newer libpq) refuses to
build a conninfo rather than let it be inherited.
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from psycopg import pq
from psycopg.conninfo import make_conninfo

from app.config import libpq_environment
from app.errors.configuration import ConnectionsConfigurationError

# A path that cannot exist (nothing can be created under /dev/null): libpq finds no file there and
# goes on without one, silently (unlike /dev/null itself, which it would read or warn about).
NOWHERE = "/dev/null/atlas-tenant-connection"
# Environment variables libpq reads that no conninfo parameter overrides.
UNOVERRIDABLE = ("PGSERVICE", "PGDATESTYLE", "PGTZ", "PGGEQO")
CONNECT_TIMEOUT_S = 5
# With a password, the methods that send (or prove) only that password, or none; without one, none at all
# (no Kerberos or SSPI: those would use credentials of the Atlas host).
WITH_PASSWORD = "password,md5,scram-sha-256,none"


@cache
def libpq_defaults() -> dict[str, tuple[str | None, str | None]]:
    """{keyword: (environment variable, compiled default)} of the libpq psycopg is linked with (read once)."""
    return {o.keyword.decode(): (o.envvar.decode() if o.envvar else None,
                                 o.compiled.decode() if o.compiled is not None else None)
            for o in pq.Conninfo.get_defaults()}


def _ours(*, host: str, hostaddr: str, port: int, dbname: str, user: str, password: str, sslmode: str,
          application_name: str) -> dict[str, str]:
    verify = sslmode.startswith("verify-")
    return {
        "host": host, "hostaddr": hostaddr, "port": str(port), "dbname": dbname, "user": user,
        "password": password,
        "passfile": NOWHERE,  # an empty password must stay empty: no ~/.pgpass, no PGPASSFILE
        "require_auth": WITH_PASSWORD if password else "none",
        "channel_binding": "prefer",
        "connect_timeout": str(CONNECT_TIMEOUT_S),
        "client_encoding": "UTF8",
        "options": "",
        "application_name": application_name,
        "sslmode": sslmode,
        "sslcertmode": "disable",  # never present a client certificate
        "sslcert": NOWHERE, "sslkey": NOWHERE,
        # Verification against the system's trusted roots, never a root.crt under Atlas's home.
        # ("system" is a file name to a libpq before 16: there, verification finds no root and fails.)
        "sslrootcert": "system" if verify and pq.version() >= 160000 else NOWHERE,
        "sslcrl": NOWHERE, "sslcrldir": NOWHERE,
        "requirepeer": "",
        "gssencmode": "disable", "gssdelegation": "0", "gsslib": "",  # no Kerberos credentials of Atlas's
        "krbsrvname": "postgres",
        "target_session_attrs": "any", "load_balance_hosts": "disable",
        "min_protocol_version": "3.0", "max_protocol_version": "3.0",
        "ssl_max_protocol_version": "",
    }


def unoverridable_environment(environ: Mapping[str, str] | None = None) -> list[str]:
    """The variables of UNOVERRIDABLE set in this process's environment (libpq reads it, so we do)."""
    environ = libpq_environment() if environ is None else environ
    return [name for name in UNOVERRIDABLE if environ.get(name)]


def tenant_conninfo(*, host: str, hostaddr: str, port: int, dbname: str, user: str, password: str,
                    sslmode: str, application_name: str, environ: Mapping[str, str] | None = None) -> str:
    """The conninfo for a checked target. Raises ConnectionsConfigurationError (naming the variable)
    while Atlas's environment sets something libpq would use anyway, or for a parameter it cannot pin.
    `environ`: the environment libpq will read (this process's; tests pass their own)."""
    inherited = unoverridable_environment(environ)
    if inherited:
        raise ConnectionsConfigurationError(
            f"org connections are off while Atlas's environment sets {', '.join(inherited)}: libpq would apply"
            " it to every tenant's server; unset it for the Atlas process (see docs/connections.md)")
    ours = _ours(host=host, hostaddr=hostaddr, port=port, dbname=dbname, user=user, password=password,
                 sslmode=sslmode, application_name=application_name)
    params: dict[str, str] = {}
    for keyword, (envvar, compiled) in libpq_defaults().items():
        if keyword in ours:
            params[keyword] = ours[keyword]
        elif envvar is None or keyword == "service":
            continue  # no environment default (a service file could set it, but PGSERVICE is refused above)
        elif compiled is not None:
            params[keyword] = compiled
        else:
            raise ConnectionsConfigurationError(
                f"this libpq ({pq.version()}) reads the connection parameter {keyword!r} from {envvar}, and"
                " Atlas has no value of its own for it; tenant connections stay off until Atlas sets one")
    return make_conninfo(**params)
