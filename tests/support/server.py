"""PostgreSQL servers for the tests: finding the shared one or starting a throwaway one, and `Cluster`,
a private one that a fault test may restart, stop and kill at will.

Order for the shared one: DATABASE_URL / PG* variables if set; else 127.0.0.1:5432; else a
cluster started by pytest-postgresql's executor as a non-root user
(ATLAS_TEST_PG=throwaway forces the last, to test that path).
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
PG_CTL = str(ROOT / "scripts" / "pg_ctl_nonroot")
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

    base = _cluster_dir("atlas-pg-")
    port = get_port(None)
    executor = PostgreSQLExecutor(
        executable=PG_CTL,
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


def _cluster_dir(prefix: str) -> Path:
    """A fresh directory for a cluster, owned by the unprivileged user pg_ctl runs as (scripts/pg_ctl_nonroot)."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        owner = pwd.getpwnam(os.environ.get("ATLAS_PG_USER", "postgres"))
        os.chmod(base, 0o755)
        os.chown(base, owner.pw_uid, owner.pw_gid)
    return base


class Cluster:
    """A private cluster on a free port, initdb'd on construction; start / stop / restart / kill_backends;
    remove() deletes it.

    Unlike the shared server, its synchronous_commit is on: a write the server acknowledged survives
    `pg_ctl stop -m immediate`, so "an acknowledged write is lost" means Atlas lost it, not the test's
    shortcut. fsync stays off (the machine does not crash, only the server's processes die).
    """

    def __init__(self) -> None:
        self.base = _cluster_dir("atlas-fault-pg-")
        self.data = self.base / "data"
        self.log = self.base / "postgresql.log"
        self.port = free_port()
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._pg_ctl("initdb", "-D", str(self.data), "-o", "--auth=trust --username=postgres --no-sync")

    def server(self) -> Server:
        return Server(self.admin_url)

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run([PG_CTL, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=60)

    def start(self) -> float:
        """Start and wait until it accepts connections; returns the monotonic time it did."""
        options = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
                   " -c synchronous_commit=on -c full_page_writes=off -c max_connections=60")
        self._pg_ctl("start", "-D", str(self.data), "-w", "-l", str(self.log), "-o", options)
        return time.monotonic()

    def stop(self, mode: str = "fast") -> None:
        """`fast` disconnects clients cleanly; `immediate` kills every process (a crash, then recovery)."""
        self._pg_ctl("stop", "-D", str(self.data), "-w", "-m", mode)

    def restart(self, mode: str = "fast", *, down_s: float = 0.0) -> float:
        self.stop(mode)
        if down_s:
            time.sleep(down_s)
        return self.start()

    def kill_backends(self, dbname: str) -> int:
        """Terminate every client backend of `dbname` and wait until they are gone (as an operator would)."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            return len(conn.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()", (dbname,)).fetchall())

    def remove(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.base, ignore_errors=True)
