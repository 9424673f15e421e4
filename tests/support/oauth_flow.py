"""The OAuth flow for MCP clients, driven over real HTTP against a served `atlas serve` app and a real
`atlas mcp --http` (tests/test_mcp_oauth.py): registration, the consent page as a signed-in person, the
token exchange."""
from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
from flask import Flask
from werkzeug.serving import make_server

from app.auth import COOKIE_NAME

REDIRECT_URI = "http://127.0.0.1:9/callback"  # loopback: never contacted, the test reads the Location
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@contextmanager
def served(app: Flask, port: int) -> Iterator[str]:
    """`app` on a real HTTP server at 127.0.0.1:`port` (threads), stopped after."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def consent_form(html: str) -> dict[str, str]:
    return {name: unescape(value) for name, value in _HIDDEN.findall(html)}


def approve(base: str, authorize_url: str, session_token: str, *, decision: str = "approve") -> str:
    """Open the consent page as the signed-in person (session cookie) and post the decision; the Location."""
    cookies = {COOKIE_NAME: session_token}
    with httpx2.Client(cookies=cookies, timeout=30) as client:
        page = client.get(authorize_url)
        assert page.status_code == 200, page.text
        form = {**consent_form(page.text), "decision": decision}
        answer = client.post(f"{base}/oauth/authorize", data=form, headers={"Origin": base})
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class Flow:
    """One client's registration and one authorization, by hand (the attack tests vary each step)."""

    base: str
    resource: str
    client_id: str = ""
    verifier: str = ""
    challenge: str = ""

    def register(self, redirect_uris: list[str] | None = None) -> httpx2.Response:
        r = httpx2.post(f"{self.base}/oauth/register", json={
            "client_name": "Attack test client", "redirect_uris": redirect_uris or [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none"})
        if r.status_code == 201:
            self.client_id = r.json()["client_id"]
        return r

    def authorize_url(self, **overrides: str) -> str:
        self.verifier, self.challenge = pkce()
        params = {"response_type": "code", "client_id": self.client_id, "redirect_uri": REDIRECT_URI,
                  "state": "st4te", "code_challenge": self.challenge, "code_challenge_method": "S256",
                  "scope": "mcp", "resource": self.resource, **overrides}
        return str(httpx2.URL(f"{self.base}/oauth/authorize", params=params))

    def code(self, session_token: str) -> str:
        if not self.client_id:
            assert self.register().status_code == 201
        location = approve(self.base, self.authorize_url(), session_token)
        answer = query_of(location)
        assert answer["state"] == "st4te"
        return answer["code"]

    def exchange(self, code: str, **overrides: str) -> httpx2.Response:
        data = {"grant_type": "authorization_code", "code": code, "client_id": self.client_id,
                "redirect_uri": REDIRECT_URI, "code_verifier": self.verifier, "resource": self.resource, **overrides}
        return httpx2.post(f"{self.base}/oauth/token", data=data)

    def tokens(self, session_token: str) -> dict[str, Any]:
        r = self.exchange(self.code(session_token))
        assert r.status_code == 200, r.text
        return r.json()
