"""Real processes for fault and multi-worker tests: `atlas serve` (gunicorn) and a redis-server of the test's own."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from tests.support.databases import TestDatabase

ATLAS = [sys.executable, "-c", "import sys; from app.cli import main; sys.exit(main())"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(port: int, method: str, path: str, body: Any = None, token: str | None = None,
            timeout_s: float = 15.0) -> tuple[int, dict[str, str], Any]:
    """One request on a fresh connection (so gunicorn may hand it to any worker)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read() or b"null")
    finally:
        conn.close()


@contextmanager
def atlas_serve(db: TestDatabase, log: Path, *, workers: int = 2, threads: int = 4,
                env: dict[str, str] | None = None) -> Iterator[int]:
    """`atlas serve` on a free port; yields the port once it answers; stops it afterwards."""
    port = free_port()
    environment = {**os.environ, "DATABASE_URL": db.admin_url,
                   "ATLAS_ROLE_PREFIX": db.roles.owner.removesuffix("_owner"), **(env or {})}
    with log.open("wb") as out:
        server = subprocess.Popen([*ATLAS, "serve", "--port", str(port), "--workers", str(workers),
                                   "--threads", str(threads)], env=environment,
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                request(port, "GET", "/api/auth/get-session")
                break
            except OSError:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "atlas serve did not start listening"
                time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


class RedisServer:
    """A redis-server on a free port, without persistence: a restart comes back empty."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.ping()
                    return self
                except redis.ConnectionError:
                    assert time.monotonic() < deadline, "redis-server did not start"
                    time.sleep(0.05)
        finally:
            client.close()

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a stopped process must run to die of SIGKILL cleanly
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
