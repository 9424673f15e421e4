"""The API behind real gunicorn (gthread, several workers) on a test database, for tests across workers.

    with served_app(db, workers=2) as server:
        status, headers, body = server.call("GET", "/api/auth/get-session", token=token)
        server.pids_of("probe-")  # which worker answered each request tagged X-Request-Id: probe-...

Each worker builds its own app from tests/support/api.py's app_config (cheap
argon2), so the workers share nothing but the database, as in production.
The access log records every request's worker pid and X-Request-Id.
"""
from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

from tests.support.api import app_config
from tests.support.databases import TestDatabase

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServedApp:
    port: int
    access_log: Path

    def call(self, method: str, path: str, *, token: str | None = None, body: Any = None,
             tag: str | None = None) -> tuple[int, dict[str, str], Any]:
        """One request on a connection of its own (so the kernel may hand it to any worker)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": "application/json", "Connection": "close"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if tag:
            headers["X-Request-Id"] = tag
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
            response = conn.getresponse()
            raw = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(raw or b"null")
        finally:
            conn.close()

    def pids_of(self, tag_prefix: str, *, expected: int, timeout_s: float = 10.0) -> list[str]:
        """Worker pids of the `expected` logged requests whose X-Request-Id starts with `tag_prefix`."""
        deadline = time.monotonic() + timeout_s
        while True:
            lines = [line.split() for line in self.access_log.read_text().splitlines()]
            pids = [fields[0] for fields in lines if len(fields) >= 2 and fields[1].startswith(tag_prefix)]
            if len(pids) >= expected or time.monotonic() > deadline:
                return pids
            time.sleep(0.05)


@contextmanager
def served_app(db: TestDatabase, *, workers: int = 2, threads: int = 4, **overrides: Any) -> Iterator[ServedApp]:
    """gunicorn on `create_app(app_config(db, **overrides))`; stopped (and its log removed) afterwards."""
    config = app_config(db, **overrides)
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="atlas-gunicorn-") as tmp:
        access_log, error_log = Path(tmp) / "access.log", Path(tmp) / "error.log"
        access_log.touch()
        with error_log.open("wb") as errors:
            server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                 "--threads", str(threads), "--worker-class", "gthread", "--no-control-socket",
                 "--access-logfile", str(access_log), "--access-logformat", "%(p)s %({x-request-id}i)s %(s)s",
                 f"app:create_app({config!r})"],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors,
            )
        try:
            served = ServedApp(port=port, access_log=access_log)
            _wait_until_up(served, server, error_log, workers=workers)
            yield served
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=5)


def _wait_until_up(served: ServedApp, server: subprocess.Popen, error_log: Path, *, workers: int,
                   timeout_s: float = 30) -> None:
    """Until every worker has answered (each builds its app after the fork, so they come up one by one)."""
    deadline = time.monotonic() + timeout_s
    for n in count():
        tag = f"startup-{n}"
        try:
            served.call("GET", "/api/openapi.json", tag=tag)
        except OSError:
            pass
        if len(set(served.pids_of("startup-", expected=n + 1, timeout_s=0))) >= workers:
            return
        assert server.poll() is None, error_log.read_text()
        assert time.monotonic() < deadline, f"{workers} gunicorn workers did not answer: " + error_log.read_text()
        time.sleep(0.1)
