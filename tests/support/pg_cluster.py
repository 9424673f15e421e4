"""A throwaway PostgreSQL cluster that a fault test may restart, stop and kill at will.

Unlike tests/support/server.py's shared server, this one is private to the test
module that starts it, on a free port, with synchronous_commit on: a write the
server acknowledged survives `pg_ctl stop -m immediate`, so "an acknowledged
write is lost" means Atlas lost it, not the test's shortcut. fsync stays off
(the machine does not crash, only the server's processes die).
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from tests.support.server import ROOT, Server

PG_CTL = str(ROOT / "scripts" / "pg_ctl_nonroot")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """initdb'd on construction; start / stop / restart / kill_backends; remove() deletes it."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="atlas-fault-pg-"))
        if os.geteuid() == 0:  # pg_ctl runs as an unprivileged user (scripts/pg_ctl_nonroot)
            owner = pwd.getpwnam(os.environ.get("ATLAS_PG_USER", "postgres"))
            os.chmod(self.base, 0o755)
            os.chown(self.base, owner.pw_uid, owner.pw_gid)
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
