"""One JSON error shape for every failure the API can answer with.

`{"error": {"code": str, "message": str}}`, plus `"fields"` for validation.
Database errors are mapped by class, never by message text, and neither a
traceback nor SQL text ever reaches a client: unexpected errors are logged
with the request id and answered with a generic 500.
"""
from __future__ import annotations

import logging

import psycopg
from flask import Flask, g, jsonify
from flask.typing import ResponseReturnValue
from psycopg import errors as pg
from psycopg_pool import PoolTimeout
from werkzeug.exceptions import HTTPException

from app import metrics
from app.errors import AtlasError

log = logging.getLogger("atlas.api")


# (class, status, code, message): the first matching class wins, so subclasses
# come before their bases.
_DATABASE_ERRORS: tuple[tuple[type[BaseException], int, str, str], ...] = (
    (pg.InsufficientPrivilege, 403, "forbidden", "this change is not permitted"),
    (pg.UniqueViolation, 409, "conflict", "a record with these values already exists"),
    (pg.CheckViolation, 400, "validation_error", "a value is outside its allowed range"),
    (pg.ForeignKeyViolation, 400, "validation_error", "a referenced record does not exist"),
    (pg.NotNullViolation, 400, "validation_error", "a required value is missing"),
    (pg.InvalidTextRepresentation, 400, "validation_error", "a value has the wrong format"),
    (pg.StringDataRightTruncation, 400, "validation_error", "a value is too long"),
    (pg.NumericValueOutOfRange, 400, "validation_error", "a number is out of range"),
    # Any other value the database cannot take (a character it cannot store, a
    # division by zero in agent SQL): the request's fault, not the server's.
    (psycopg.DataError, 400, "validation_error", "a value cannot be processed by the database"),
    # The app role's own timeouts (ATLAS_APP_LOCK_TIMEOUT_MS, ATLAS_APP_STATEMENT_TIMEOUT_MS):
    # a row another transaction holds is a conflict worth retrying; a slow statement, a busy server.
    (pg.LockNotAvailable, 409, "lock_timeout",
     "a record is locked by another change; retry shortly (ATLAS_APP_LOCK_TIMEOUT_MS)"),
    (pg.QueryCanceled, 503, "statement_timeout",
     "the database took too long to answer; retry shortly (ATLAS_APP_STATEMENT_TIMEOUT_MS)"),
    (psycopg.OperationalError, 503, "service_unavailable",
     "the database is unavailable right now; retry shortly"),
    # Pools Atlas opens raise their own 503 naming the cause (app/checked_pool.py); this is the fallback.
    (PoolTimeout, 503, "service_unavailable",
     "no database connection could be had in time: the database may be unavailable; retry shortly"),
)

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


def error_response(status: int, code: str, message: str, *, fields: dict | None = None,
                   retry_after_s: int | None = None) -> ResponseReturnValue:
    body: dict = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    if status != 500:  # a refusal on purpose; 500s are counted by status in atlas_http_requests_total
        metrics.refused(code)
    if retry_after_s is None and status == 503:
        retry_after_s = 1  # every 503 says when to come back (RFC 9110 section 10.2.3)
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else {}
    return jsonify({"error": body}), status, headers


def _atlas_error(exc: AtlasError) -> ResponseReturnValue:
    if exc.status >= 500 and exc.status != 503:
        # Configuration, migration or missing-org errors are server faults; their
        # text may name internals, so the client gets the generic answer.
        log.error("request %s failed: %s", _request_id(), exc.message)
        return error_response(500, "internal_error", _internal_message())
    fields = exc.details.get("fields") if isinstance(exc.details, dict) else None
    return error_response(exc.status, exc.code, exc.message, fields=fields, retry_after_s=exc.retry_after_s)


def _database_error(exc: BaseException) -> ResponseReturnValue:
    for cls, status, code, message in _DATABASE_ERRORS:
        if isinstance(exc, cls):
            log.warning("request %s: database refused: %s", _request_id(), type(exc).__name__)
            return error_response(status, code, message, retry_after_s=1 if code == "lock_timeout" else None)
    return _unexpected(exc)


def _http_error(exc: HTTPException) -> ResponseReturnValue:
    status = exc.code or 500
    if status >= 500:
        return _unexpected(exc)
    code = _HTTP_CODES.get(status, "http_error")
    message = {
        404: "no such endpoint",
        405: "this endpoint does not accept that method",
    }.get(status, exc.description or exc.name)
    return error_response(status, code, message)


def _unexpected(exc: BaseException) -> ResponseReturnValue:
    log.error("request %s failed", _request_id(), exc_info=exc)
    return error_response(500, "internal_error", _internal_message())


def _internal_message() -> str:
    return f"internal error; quote request id {_request_id()} when reporting it"


def _request_id() -> str:
    return str(getattr(g, "request_id", "-"))


def handle(exc: BaseException) -> ResponseReturnValue:
    """The one error handler: dispatch on class."""
    if isinstance(exc, AtlasError):
        return _atlas_error(exc)
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    if isinstance(exc, (psycopg.Error, PoolTimeout)):
        return _database_error(exc)
    return _unexpected(exc)


def init_app(app: Flask) -> None:
    app.register_error_handler(Exception, handle)
