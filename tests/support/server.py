"""Finding a PostgreSQL server for the tests, or starting a throwaway one.

Order: DATABASE_URL / PG* variables if set; else 127.0.0.1:5432; else a
cluster started by pytest-postgresql's executor as a non-root user
(ATLAS_TEST_PG=throwaway forces the last, to test that path).
"""
from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class Server:
    """A reachable cluster, as a superuser conninfo to its maintenance database."""

    admin_url: str
    stop: object = None  # callable that stops a cluster we started

    def url_for(self, dbname: str, *, user: str | None = None) -> str:
        extra = {"dbname": dbname}
        if user:
            extra["user"] = user
        return make_conninfo(self.admin_url, **extra)


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


def configured_url() -> str | None:
    if os.environ.get("DATABASE_URL"):
        return make_conninfo(os.environ["DATABASE_URL"], dbname="postgres")
    if any(os.environ.get(v) for v in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE")):
        return make_conninfo("", dbname="postgres")
    return None


def find_or_start() -> Server:
    if os.environ.get("ATLAS_TEST_PG") == "throwaway":
        return _start_throwaway()
    url = configured_url()
    if url is not None:
        if not _answers(url):
            raise RuntimeError(f"DATABASE_URL/PG* point at a server that does not answer: {url}")
        return Server(url)
    if _answers(DEFAULT_URL):
        return Server(DEFAULT_URL)
    return _start_throwaway()


def _start_throwaway() -> Server:
    """A private cluster on a free port, run by pytest-postgresql's executor."""
    from port_for import get_port
    from pytest_postgresql.executors.proc import PostgreSQLExecutor

    base = Path(tempfile.mkdtemp(prefix="atlas-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam(os.environ.get("ATLAS_PG_USER", "postgres"))
        os.chmod(base, 0o755)
        os.chown(base, owner.pw_uid, owner.pw_gid)
    port = get_port(None)
    executor = PostgreSQLExecutor(
        executable=str(ROOT / "scripts" / "pg_ctl_nonroot"),
        host="127.0.0.1",
        port=port,
        datadir=str(base / "data"),
        unixsocketdir=str(base),
        logfile=str(base / "postgresql.log"),
        startparams="-w",
        dbname="postgres",
        user="postgres",
        postgres_options="-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
    )
    executor.start()  # runs `pg_ctl initdb` then `pg_ctl start`, both via the wrapper

    def stop() -> None:
        executor.stop()
        shutil.rmtree(base, ignore_errors=True)

    return Server(f"postgresql://postgres@127.0.0.1:{port}/postgres", stop=stop)
