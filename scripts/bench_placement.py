"""What dedicated placement costs an org that never moves: the write hold and the placement lookup.

Run: .venv/bin/python -m scripts.bench_placement [--seconds 6]

Builds a migrated database of its own on the configured server and times, on
one connection and one thread, as the application role with the org set:
  write  - one-row INSERT then UPDATE of an account per transaction, with the
           org_hold trigger (sql/095_placement.sql) on, against the same with
           the trigger disabled (what the write path cost before placement);
  lookup - the placement read a worker makes once per org per
           ATLAS_PLACEMENT_CACHE_S (app/placement/router.py), in microseconds.
Short alternating rounds cancel drift; prints throughput ratios measured in
this run. Everything it created is dropped at the end.
"""
from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable

import psycopg

from app.db import wire
from app.db.scoped_settings import set_local
from app.devdb.databases import DatabaseFactory
from app.devdb.server import find_or_start
from tests.support import rows

ROUND_S = 0.25


def write_once(conn: psycopg.Connection, org: uuid.UUID) -> None:
    with conn.transaction():
        conn.execute(set_local("app.org_id", str(org)))
        row = conn.execute("INSERT INTO accounts (org_id, name) VALUES (%s, 'bench') RETURNING id", (org,)).fetchone()
        assert row is not None
        conn.execute("UPDATE accounts SET name = 'bench 2' WHERE org_id = %s AND id = %s", (org, row[0]))


def rounds(seconds: float, ways: dict[str, Callable[[], None]],
           setup: dict[str, Callable[[], None]] | None = None) -> dict[str, float]:
    """Operations per second of each way, alternating short rounds (each after its setup, untimed)."""
    done = dict.fromkeys(ways, 0)
    spent = dict.fromkeys(ways, 0.0)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name, work in ways.items():
            if setup and name in setup:
                setup[name]()
                work()  # the first write after the ALTER re-plans; not timed
            started = time.monotonic()
            while time.monotonic() - started < ROUND_S:
                work()
                done[name] += 1
            spent[name] += time.monotonic() - started
    return {name: done[name] / spent[name] for name in ways}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    server = find_or_start()
    factory = DatabaseFactory(server)
    try:
        db = factory.build_template()
        with psycopg.connect(db.admin_url, autocommit=True) as admin:
            org = rows.make_org(admin, "Bench")
        with psycopg.connect(db.app_url, autocommit=True) as conn, \
                psycopg.connect(db.admin_url, autocommit=True) as admin:
            def trigger(enabled: bool) -> Callable[[], None]:
                statement = ("ALTER TABLE accounts ENABLE TRIGGER org_hold" if enabled
                             else "ALTER TABLE accounts DISABLE TRIGGER org_hold")
                return lambda: admin.execute(statement)

            def write() -> None:
                write_once(conn, org)

            measured = rounds(args.seconds, {"with hold": write, "without": write},
                              setup={"with hold": trigger(True), "without": trigger(False)})
            lookups = rounds(min(args.seconds, 2.0), {"lookup": lambda: wire.scoped_read(
                conn, org, "SELECT location FROM org_placements WHERE organization_id = app.current_org()")})
        ratio = measured["with hold"] / measured["without"]
        print(f"write (INSERT + UPDATE per transaction): {measured['with hold']:.0f}/s with the hold,"
              f" {measured['without']:.0f}/s without: ratio {ratio:.3f}")
        print(f"placement lookup: {1e6 / lookups['lookup']:.0f} us each (once per org per ATLAS_PLACEMENT_CACHE_S)")
        return 0
    finally:
        factory.drop_all()


if __name__ == "__main__":
    sys.exit(main())
