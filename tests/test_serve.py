"""`atlas serve`: the API behind granian (app/serving.py), a production WSGI server, answering over real HTTP."""
from __future__ import annotations

import json
import socket
from functools import partial

from tests.support.errors import error_of
from tests.support.serving import atlas_serve, request

_request = partial(request, timeout_s=10)


def test_atlas_serve_answers_through_granian(fresh_db, tmp_path):
    with atlas_serve(fresh_db, tmp_path / "serve.log", workers=1,
                     probe=lambda port: _request(port, "GET", "/api/auth/get-session")) as server:
        port = server.port
        status, headers, body = server.first_answer
        assert status == 200 and body is None  # no session: Better Auth's null
        status, _, body = _request(port, "GET", "/api/auth/list-sessions")
        assert status == 401 and error_of(body)["code"] == "UNAUTHORIZED"
        assert "gunicorn" not in headers.get("Server", "")  # granian sends no Server header
        status, _, body = _request(port, "POST", "/api/auth/sign-up/email",
                                   {"email": "served@example.test", "password": "long enough", "name": "S"})
        assert status == 200
        status, _, session = _request(port, "GET", "/api/auth/get-session", token=body["token"])
        assert status == 200 and session["user"]["email"] == "served@example.test"
        # Request sizes stay bounded: a body by the app (413 in the API's shape), a head by the server (431).
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:  # the head of a 3 MB body only:
            raw.sendall(b"POST /api/auth/sign-up/email HTTP/1.1\r\nHost: atlas\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 3145728\r\nConnection: close\r\n\r\n")  # refused before it is read
            answer = b""
            while chunk := raw.recv(65536):
                answer += chunk
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413") and error_of(json.loads(payload))["code"] == "PAYLOAD_TOO_LARGE"
        status, _, _ = _request(port, "GET", "/api/auth/get-session", headers={"X-Big": "a" * (100 * 1024)}, text=True)
        assert status == 431
        assert _request(port, "GET", "/api/auth/get-session")[0] == 200  # and the server goes on
