"""The database servers a conninfo names: one, or each node of a multi-host URL (libpq's rules)."""
from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict

DEFAULT_PORT = 5432


def servers(conninfo: str) -> list[tuple[str, int]]:
    """[(host, port)] in the URL's order: libpq pairs the n-th host with the n-th port, or every host
    with a single port; a host left out is "localhost" (libpq's own default is the Unix socket, whose
    address a tenant's datasource cannot name anyway). Raises psycopg.ProgrammingError for a malformed URL."""
    params = conninfo_to_dict(conninfo)
    hosts = [h.strip() or "localhost" for h in str(params.get("host") or "localhost").split(",")]
    ports = [p.strip() for p in str(params.get("port") or "").split(",")]
    if len(ports) == 1:
        ports *= len(hosts)
    return [(host, int(port) if port else DEFAULT_PORT) for host, port in zip(hosts, ports, strict=False)]


def describe(conninfo: str) -> str:
    """"host:port/dbname" for messages, every node of a multi-host URL listed: "a:5432,b:5433/atlas"."""
    dbname = conninfo_to_dict(conninfo).get("dbname") or ""
    return ",".join(f"{host}:{port}" for host, port in servers(conninfo)) + f"/{dbname}"
