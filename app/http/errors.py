"""One JSON error shape for every failure the API can answer with.

`{"code": str, "message": str}` at the top level, plus `"fields"` for
validation: the shape Better Auth's client reads (`error.code`,
`error.message`), for /api/auth and /api/v1 alike. Under /api/auth the codes
are Better Auth's upper-snake ones (app/better_auth_codes.py) with its
statuses; /api/v1 keeps Atlas's documented lower-case codes.
Database errors are mapped by class in app/db/refusals.py, and neither a
traceback nor SQL text ever reaches a client: unexpected errors are logged
with the request id and answered with a generic 500.
"""
from __future__ import annotations

import logging
from typing import Any

import psycopg
from flask import Flask, g, has_request_context, jsonify, request
from flask.typing import ResponseReturnValue
from psycopg_pool import PoolTimeout
from werkzeug.exceptions import HTTPException

from app.acting import acting
from app.better_auth_codes import MESSAGES
from app.db import refusals as database_errors
from app.errors import AtlasError
from app.http import metrics as request_metrics

log = logging.getLogger("atlas.api")


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


Answer = tuple[int, dict[str, Any], dict[str, str]]  # status, JSON body, headers


def error_answer(status: int, code: str, message: str, *, fields: dict[str, Any] | None = None,
                 retry_after_s: int | None = None, auth_code: str = "", auth_status: int = 0) -> Answer:
    status, code, message = _wire(status, code, message, auth_code=auth_code, auth_status=auth_status)
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    if status != 500:  # a refusal on purpose; 500s are counted by status in atlas_http_requests_total
        request_metrics.refused(code)
    if retry_after_s is None and status == 503:
        retry_after_s = 1  # every 503 says when to come back (RFC 9110 section 10.2.3)
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else {}
    return status, body, headers


def _wire(status: int, code: str, message: str, *, auth_code: str = "", auth_status: int = 0) -> tuple[int, str, str]:
    """Status, code and message as the request's API spells them: Better Auth's under /api/auth.

    An Atlas refusal that Better Auth also has (its class names Better Auth's code, app/errors.py) takes
    Better Auth's status, code and message there; any other keeps its status and message, its code upper-cased.
    """
    if not has_request_context() or not request.path.startswith("/api/auth/") or code.isupper():
        return status, code, message
    if auth_code:
        return auth_status or status, auth_code, MESSAGES.get(auth_code, message)
    return status, code.upper(), message


def _atlas_error(exc: AtlasError) -> Answer:
    if exc.status >= 500 and exc.status != 503:
        # Configuration, migration or missing-org errors are server faults; their
        # text may name internals, so the client gets the generic answer.
        log.error("request %s failed: %s", _request_id(), exc.message)
        return error_answer(500, "internal_error", _internal_message())
    fields = exc.details.get("fields") if isinstance(exc.details, dict) else None
    return error_answer(exc.status, exc.code, exc.message, fields=fields, retry_after_s=exc.retry_after_s,
                        auth_code=exc.auth_code, auth_status=exc.auth_status)


def _database_error(exc: BaseException) -> Answer:
    answer = database_errors.refusal(exc)
    if answer is None:
        return _unexpected(exc)
    log.warning("request %s: database refused: %s", _request_id(), type(exc).__name__)
    return error_answer(answer.status, answer.code, answer.message, retry_after_s=answer.retry_after_s)


def _http_error(exc: HTTPException) -> Answer:
    status = exc.code or 500
    if status >= 500:
        return _unexpected(exc)
    code = _HTTP_CODES.get(status, "http_error")
    message = {
        404: "no such endpoint",
        405: "this endpoint does not accept that method",
    }.get(status, exc.description or exc.name)
    return error_answer(status, code, message)


def _unexpected(exc: BaseException) -> Answer:
    log.error("request %s failed", _request_id(), exc_info=exc)
    return error_answer(500, "internal_error", _internal_message())


def _internal_message() -> str:
    return f"internal error; quote request id {_request_id()} when reporting it"


def _request_id() -> str:
    return str(getattr(g, "request_id", None) or acting().request_id or "-")


def handle(exc: BaseException) -> ResponseReturnValue:
    """The one error handler: dispatch on class."""
    status, body, headers = answer(exc)
    return jsonify(body), status, headers


def answer(exc: BaseException) -> Answer:
    """What `handle` answers `exc` with, as data (the MCP server's tool errors carry the body)."""
    if isinstance(exc, AtlasError):
        return _atlas_error(exc)
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    if isinstance(exc, (psycopg.Error, PoolTimeout)):
        return _database_error(exc)
    return _unexpected(exc)


def init_app(app: Flask) -> None:
    app.register_error_handler(Exception, handle)
