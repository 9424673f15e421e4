"""Migrate a throwaway database and run the policy audit on it (`make test` runs this last).

The server is the one the tests use: DATABASE_URL / PG* if set, else
127.0.0.1:5432, else a private cluster started for the purpose. The database
and its roles get a unique prefix and are dropped afterwards, even when the
migration or the audit fails. The exit code is psql's (0: no findings).
"""
from __future__ import annotations

import subprocess
import sys

from app.devdb.audit import audit_command
from app.devdb.databases import DatabaseFactory
from app.devdb.server import Server, find_or_start


def audit_fresh_database(server: Server, *, timeout_s: float = 300.0) -> int:
    """Build a migrated database, audit it, drop it and its roles; return psql's exit code."""
    factory = DatabaseFactory(server)
    try:
        database = factory.build_template()
        print(f"policy audit of a freshly migrated database ({database.name})", flush=True)
        return subprocess.run(audit_command(database.admin_url), timeout=timeout_s, check=False).returncode
    finally:
        factory.drop_all()


def main() -> int:
    server = find_or_start()
    try:
        return audit_fresh_database(server)
    finally:
        stop = getattr(server, "stop", None)
        if callable(stop):
            stop()


if __name__ == "__main__":
    sys.exit(main())
