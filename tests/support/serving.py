"""The API behind real granian (app/serving.py), for tests across workers and processes, and plain HTTP requests to it.

    with atlas_serve(db, tmp_path / "serve.log", workers=2, env={"ATLAS_X": "1"}) as served:
        status, headers, body = request(served.port, "GET", "/api/auth/get-session")

`atlas_serve` runs the real `atlas serve` command (settings from ATLAS_* variables) and is up once
one worker answers; `served_app` runs granian (tests/support/served.py) on tests/support/api.py's app_config (cheap argon2)
and is up once every worker answered, each request's worker pid in its access log.
"""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

from app.devdb.databases import TestDatabase
from app.devdb.ports import free_port
from tests.support.api import app_config

ROOT = Path(__file__).resolve().parents[2]
ATLAS = [sys.executable, "-c", "import sys; from app.cli import main; sys.exit(main())"]


def request(port: int, method: str, path: str, body: Any = None, token: str | None = None, *,
            timeout_s: float = 15.0, headers: Mapping[str, str] | None = None, timed: bool = False,
            text: bool = False) -> tuple[Any, ...]:
    """One request on a fresh connection (so any worker may take it).

    -> (status, headers, body), the body parsed as JSON (`text`: as a string), and with `timed`
    the seconds it took as a fourth item."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    sent = {"Content-Type": "application/json", **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=sent)
        response = conn.getresponse()
        raw = response.read()
        # header names are case-insensitive (granian sends them in lower case): an HTTPMessage looks them up so
        answer = (response.status, response.headers, raw.decode() if text else json.loads(raw or b"null"))
        return (*answer, time.monotonic() - started) if timed else answer
    finally:
        conn.close()


def owner_of_new_org(port: int, slug: str) -> str:
    """Sign up owner@<slug>.test, create org <slug> and return the owner's token bound to it."""
    status, _, body = request(port, "POST", "/api/auth/sign-up/email",
                              {"email": f"owner@{slug}.test", "password": "long enough pw", "name": "O"})
    assert status == 200, body
    status, _, org = request(port, "POST", "/api/auth/organization/create", {"name": slug, "slug": slug},
                             token=body["token"])
    assert status == 200, org
    status, headers, _ = request(port, "POST", "/api/auth/organization/set-active",
                                 {"organizationId": org["id"]}, token=body["token"])
    assert status == 200
    return headers["set-auth-token"]

@dataclass
class Served:
    """A running `atlas serve`: its port, its master process, and what its start-up probe answered."""

    port: int
    process: subprocess.Popen[bytes]
    first_answer: Any = None

    @property
    def pid(self) -> int:
        return self.process.pid


def _get_session(port: int) -> Any:
    return request(port, "GET", "/api/auth/get-session")


@contextmanager
def atlas_serve(db: TestDatabase, log: Path, *, workers: int = 2, threads: int = 4,
                env: Mapping[str, str | None] | None = None,
                probe: Callable[[int], Any] = _get_session) -> Iterator[Served]:
    """`atlas serve` on a free port, its output in `log`; yields once `probe(port)` got an answer; stops it after.

    `env` overrides the environment (None removes a variable). The server may be stopped by the test itself."""
    port = free_port()
    environment = {**os.environ, "DATABASE_URL": db.admin_url,
                   "ATLAS_ROLE_PREFIX": db.roles.owner.removesuffix("_owner")}
    for name, value in (env or {}).items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    with log.open("wb") as out:
        server = subprocess.Popen([*ATLAS, "serve", "--port", str(port), "--workers", str(workers),
                                   "--threads", str(threads)], env=environment,
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        served = Served(port, server)
        deadline = time.monotonic() + 30
        while True:
            try:
                served.first_answer = probe(port)
                break
            except OSError:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "atlas serve did not start listening"
                time.sleep(0.2)
        yield served
    finally:
        _stop(server)


@dataclass
class ServedApp:
    """granian on an app_config; `call` tags a request so that `pids_of` finds the worker that answered it."""

    port: int
    access_log: Path

    def call(self, method: str, path: str, *, token: str | None = None, body: Any = None,
             tag: str | None = None) -> tuple[int, dict[str, str], Any]:
        """One request on a connection of its own; header names in lower case."""
        extra = {"Connection": "close", **({"X-Request-Id": tag} if tag else {})}
        status, headers, answer = request(self.port, method, path, body, token, timeout_s=30, headers=extra)
        return status, {k.lower(): v for k, v in headers.items()}, answer

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
def served_app(db: TestDatabase, *, workers: int = 2, threads: int = 4, port: int | None = None,
               **overrides: Any) -> Iterator[ServedApp]:
    """granian on `create_app(app_config(db, **overrides))`; yields once every worker answered;
    stopped (and its logs removed) afterwards. The workers share nothing but the database, as in production.
    `port`: listen there (to configure the app with its own origin first, e.g. public_url); else a free one."""
    config = app_config(db, **overrides)
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="atlas-served-") as tmp:
        access_log, error_log = Path(tmp) / "access.log", Path(tmp) / "error.log"
        access_log.touch()
        with error_log.open("wb") as errors:
            server = subprocess.Popen(
                [sys.executable, "-m", "tests.support.served", str(port), str(workers), str(threads),
                 str(access_log), repr(config)],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors,
            )
        try:
            served = ServedApp(port=port, access_log=access_log)
            _wait_for_every_worker(served, server, error_log, workers=workers)
            yield served
        finally:
            _stop(server)


def _wait_for_every_worker(served: ServedApp, server: subprocess.Popen[bytes], error_log: Path, *, workers: int,
                           timeout_s: float = 30) -> None:
    """Until every worker has answered (each builds its app after the fork, so they come up one by one)."""
    deadline = time.monotonic() + timeout_s
    for n in count():
        try:
            served.call("GET", "/api/openapi.json", tag=f"startup-{n}")
        except OSError:
            pass
        if len(set(served.pids_of("startup-", expected=n + 1, timeout_s=0))) >= workers:
            return
        assert server.poll() is None, error_log.read_text()
        assert time.monotonic() < deadline, f"{workers} workers did not answer: " + error_log.read_text()
        time.sleep(0.1)


def _stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the graceful stop), SIGKILL if it does not end within 30 s; a no-op if it already ended."""
    if server.poll() is None:
        server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=5)
