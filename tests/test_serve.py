"""`atlas serve`: the API behind gunicorn, a production WSGI server, answering over real HTTP."""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time

ATLAS = [sys.executable, "-c", "import sys; from app.cli import main; sys.exit(main())"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(port: int, method: str, path: str, body: dict | None = None, token: str | None = None):  # type: ignore[no-untyped-def]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read() or b"null")
    finally:
        conn.close()


def test_atlas_serve_answers_through_gunicorn(fresh_db, tmp_path):
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": fresh_db.admin_url,
           "ATLAS_ROLE_PREFIX": fresh_db.roles.owner.removesuffix("_owner")}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen([*ATLAS, "serve", "--port", str(port), "--workers", "1"], env=env,
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, headers, body = _request(port, "GET", "/api/auth/get-session")
                break
            except OSError:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "atlas serve did not start listening"
                time.sleep(0.2)
        assert status == 401 and body["error"]["code"] == "unauthorized"
        assert headers["Server"].startswith("gunicorn")
        status, _, body = _request(port, "POST", "/api/auth/sign-up/email",
                                   {"email": "served@example.test", "password": "long enough", "name": "S"})
        assert status == 200
        status, _, session = _request(port, "GET", "/api/auth/get-session", token=body["token"])
        assert status == 200 and session["user"]["email"] == "served@example.test"
    finally:
        server.terminate()
        server.wait(timeout=20)
