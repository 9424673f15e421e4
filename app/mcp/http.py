"""`atlas mcp --http`: the streamable HTTP transport at /mcp, every request authenticated by its bearer token.

It is a server of its own (uvicorn, one process), not a part of `atlas serve`:
the transport is ASGI and streams, which `atlas serve`'s WSGI workers (granian) do not
serve, and keeping agents off the API's workers keeps their calls from taking
threads that CRM and auth requests need. It shares with `atlas serve` all
that must be shared: the database (sessions, keys, limits, audit) and Redis
(cache, rate log), so an org's rate and in-flight limits count both. It runs
stateless (no server-side MCP session; each request carries its own token and
is answered as JSON), so several instances can sit behind a load balancer.

Every HTTP request's token is resolved before the SDK sees the request (401
`unauthorized` otherwise); each tool call then reads the token again and runs
with the identity it finds (app/mcp/calls.py), so a revocation between two
calls stops the second.
"""
from __future__ import annotations

import functools
import json
import logging
from typing import Any

import anyio.to_thread
from flask import Flask
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import UnauthorizedError
from app.http.context import services
from app.mcp.calls import RESOURCE, authenticate, bearer, error_answer, token_from_headers
from app.mcp.tools import build_server
from app.oauth.metadata import PRM_PATH, protected_resource

log = logging.getLogger("atlas.mcp")
PATH = "/mcp"


class BearerRequired:
    """ASGI middleware: an HTTP request without a live session token or API key gets 401 in the API's shape."""

    def __init__(self, inner: ASGIApp, app: Flask, *, public_url: str) -> None:
        self.inner, self.app = inner, app
        resource = f"{public_url}{PATH}"
        issuer = services(app).settings.http.public_url.rstrip("/")
        self.metadata = protected_resource(resource=resource, issuer=issuer)
        self.challenge = f'Bearer resource_metadata="{public_url}{PRM_PATH}{PATH}", scope="mcp"'

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in (PRM_PATH, PRM_PATH + PATH):
            await _send_json(send, 200, self.metadata, {"Access-Control-Allow-Origin": "*"})
            return
        if scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            refusal = await anyio.to_thread.run_sync(functools.partial(self._refusal, headers.get("authorization")))
            if refusal is not None:
                await _send_json(send, *refusal)
                return
        await self.inner(scope, receive, send)

    def _refusal(self, header: str | None) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        with self.app.app_context():
            try:
                authenticate(self.app, bearer(header))
                return None
            except Exception as exc:  # the API's renderer decides status, code and message
                status, body, headers = error_answer(exc)
                extra = {"WWW-Authenticate": self.challenge} if isinstance(exc, UnauthorizedError) else {}
                return status, body, {**headers, **extra}


async def _send_json(send: Send, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
    raw = json.dumps(body).encode()
    sent = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode()),
            *((k.lower().encode(), str(v).encode()) for k, v in headers.items())]
    await send({"type": "http.response.start", "status": status, "headers": sent})
    await send({"type": "http.response.body", "body": raw})


def asgi_app(app: Flask, *, host: str, public_url: str) -> ASGIApp:
    """The MCP endpoint at /mcp behind the bearer check (stateless, JSON answers); `public_url` is where
    clients reach it (its OAuth resource is `<public_url>/mcp`)."""
    app.extensions[RESOURCE] = f"{public_url}{PATH}"
    server = build_server(app, token_of=token_from_headers)
    inner = server.streamable_http_app(streamable_http_path=PATH, stateless_http=True, json_response=True, host=host)
    return BearerRequired(inner, app, public_url=public_url)


def serve(app: Flask, *, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM (uvicorn's graceful shutdown)."""
    import uvicorn

    public_url = services(app).settings.oauth.mcp_url or f"http://{host}:{port}"
    log.warning("MCP over streamable HTTP on http://%s:%d%s (OAuth resource %s%s)", host, port, PATH, public_url, PATH)
    uvicorn.run(asgi_app(app, host=host, public_url=public_url), host=host, port=port, log_level="warning",
                lifespan="on")
