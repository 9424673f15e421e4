"""Running `atlas org move` as an operator would (a subprocess), and reading where an org's rows are."""
from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import psycopg
from psycopg import sql

from app.devdb.databases import TestDatabase

ROOT = Path(__file__).resolve().parents[2]
ATLAS = [sys.executable, "-c", "import sys; from app.cli import main; sys.exit(main())"]
CACHE_S = 0.2  # ATLAS_PLACEMENT_CACHE_S of the tests' apps and moves


def atlas_env(shared: TestDatabase, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": shared.admin_url,
            "ATLAS_ROLE_PREFIX": shared.roles.owner.removesuffix("_owner"),
            "ATLAS_PLACEMENT_CACHE_S": str(CACHE_S), **extra}


@functools.cache
def _streams(admin_url: str) -> bool:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        return conn.execute("SHOW wal_level").fetchone() == ("logical",)


def moving(shared: TestDatabase, args: tuple[str, ...]) -> list[str]:
    """`atlas org move` by logical replication where the test server streams, else with --copy, said aloud.

    Modules about the move itself run on a wal_level = logical cluster of their own
    (tests/support/logical.py) and always stream. The others only need an org placed elsewhere; on a
    shared test server without wal_level = logical (not the tests' to reconfigure) they move it by the
    explicit fallback, as an operator of such a server must.
    """
    if args[:2] != ("org", "move") or "--abort" in args or "--copy" in args or _streams(shared.admin_url):
        return list(args)
    return [*args, "--copy"]


def atlas(shared: TestDatabase, *args: str, env: Mapping[str, str] | None = None,
          timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `atlas ARGS` to the end."""
    return subprocess.run([*ATLAS, *moving(shared, args)], env=atlas_env(shared, **(env or {})),
                          capture_output=True, text=True, timeout=timeout_s, cwd=ROOT, check=False)


def start_paused(shared: TestDatabase, step: str, *args: str) -> subprocess.Popen[str]:
    """Start `atlas ARGS` with ATLAS_MOVE_PAUSE_AT=step; return once it says it paused there."""
    process = subprocess.Popen([*ATLAS, *moving(shared, args)], env=atlas_env(shared, ATLAS_MOVE_PAUSE_AT=step),
                               cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    seen = []
    deadline = time.monotonic() + 120
    for line in process.stdout:
        seen.append(line)
        if line.strip() == f"paused at {step}":
            return process
        assert time.monotonic() < deadline, "".join(seen)
    process.wait(timeout=30)
    process.stdout.close()  # an unclosed pipe would fail the next test's setup (filterwarnings = error)
    raise AssertionError(f"the move ended before {step}:\n" + "".join(seen))


def org_rows(admin_url: str, org: uuid.UUID, tables: list[str]) -> dict[str, int]:
    """How many rows of `org` each table holds in one database."""
    with psycopg.connect(admin_url) as conn:
        return {t: conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE org_id = %s").format(sql.Identifier(t)),
                                (org,)).fetchone()[0] for t in tables}  # type: ignore[index]  # count(*) always answers


def ids_in(admin_url: str, table: str, org: uuid.UUID) -> set[str]:
    with psycopg.connect(admin_url) as conn:
        query = sql.SQL("SELECT id::text FROM {} WHERE org_id = %s").format(sql.Identifier(table))
        return {r[0] for r in conn.execute(query, (org,))}


def placement_of(shared: TestDatabase, org: uuid.UUID) -> str | None:
    with psycopg.connect(shared.admin_url) as conn:
        row = conn.execute("SELECT location FROM org_placements WHERE organization_id = %s", (org,)).fetchone()
    return None if row is None else row[0]
