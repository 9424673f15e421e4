"""A dedicated database's location: its server and database, never a role's credentials.

The shared database stores only where an org's database is (host, port,
dbname and connection options). Each Atlas role logs in there with the
credentials it has for the shared database (its user, password or .pgpass),
so no secret is written to a table.
"""
from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from app.db.connect import open_connection
from app.errors.configuration import ConfigurationError

_CREDENTIALS = ("user", "password", "passfile")


def location_of(url: str) -> str:
    """The conninfo of `url` without user or password (stored in org_placements)."""
    try:
        params = conninfo_to_dict(url)
    except Exception as exc:  # psycopg raises ProgrammingError for a malformed URL
        raise ConfigurationError(f"not a PostgreSQL connection URL: {exc}") from None
    if not params.get("dbname"):
        raise ConfigurationError("the dedicated database URL must name a database")
    kept = {k: v for k, v in params.items() if k not in _CREDENTIALS}
    return make_conninfo("", **kept)


def role_conninfo(role_url: str, location: str) -> str:
    """Log in as `role_url`'s role (its credentials and options) at `location`."""
    return make_conninfo(role_url, **conninfo_to_dict(location))


def same_database(a: str, b: str) -> bool:
    """Whether two URLs name the same server and database (credentials aside)."""
    return location_of(a) == location_of(b)


def placed_locations(control_admin_url: str) -> list[str]:
    """Every dedicated database an org is placed in (read as the admin of the shared database)."""

    with open_connection("placement.locations", control_admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('public.org_placements')").fetchone()
        if not exists or not exists[0]:
            return []
        return [r[0] for r in conn.execute("SELECT DISTINCT location FROM org_placements ORDER BY 1")]


def org_location(control_admin_url: str, org_id: object) -> str | None:
    """The org's dedicated database, or None: the shared one (read as the admin, for the CLI)."""

    with open_connection("placement.locations", control_admin_url, autocommit=True) as conn:
        row = conn.execute("SELECT location FROM org_placements WHERE organization_id = %s", (str(org_id),)).fetchone()
    return None if row is None else str(row[0])
