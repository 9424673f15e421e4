"""Safe retries: with an `Idempotency-Key` header, a creating request takes effect at most once.

A view declared `idempotent` (app/endpoint.py) runs, when the request carries the header, inside
one org-scoped transaction that also records the key and the response
(Database.joining in app/db/__init__.py): the write and its key commit together or not
at all. So a client whose response was lost (a 503 while the commit went
through, a dropped connection) can retry with the same key and gets the first
response back instead of a duplicate.

Keys belong to (org, actor, key) and live in idempotency_keys under RLS like
every tenant row (sql/062_idempotency_keys.sql). Within ATLAS_IDEMPOTENCY_TTL_S:
- the same key and request (method, path, body): the stored status, body and
  Location, marked `Idempotent-Replayed: true`; nothing is written again;
- the same key with another request: 422 idempotency_key_reused;
- the same key while the first request is still running: 409 idempotency_in_flight.
A request that fails (any error) stores nothing: its retry runs afresh.
Expired keys of an org are deleted when that org next records one.
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, current_app, g, request
from psycopg.types.json import Jsonb

from app.db import Scope
from app.endpoint import endpoint_of
from app.errors import ValidationError
from app.errors.access import IdempotencyInFlightError, IdempotencyKeyReusedError
from app.http.context import services

F = TypeVar("F", bound=Callable[..., Any])

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_CHARS = 255
_KEY = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_CHARS}}}")  # printable ASCII, no spaces
_KEPT_HEADERS = ("Content-Type", "Location")
_NEW_ORG_NAMESPACE = uuid.UUID("6f1d1c8e-5b0a-4b8e-9a57-2f0e3c1d9a41")

_CLAIM = "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))"
_FIND = (
    "SELECT request_fingerprint, response_status, response_headers, response_body FROM idempotency_keys"
    " WHERE org_id = %s AND actor_user_id = %s AND idempotency_key = %s AND expires_at > now()"
)
_PURGE = "DELETE FROM idempotency_keys WHERE org_id = %s AND expires_at <= now()"
_STORE = (
    "INSERT INTO idempotency_keys (org_id, actor_user_id, idempotency_key, request_fingerprint,"
    " response_status, response_headers, response_body, expires_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s))"
)


def request_key() -> str | None:
    """The request's Idempotency-Key, or None; a malformed one is a 400."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _KEY.fullmatch(key):
        message = f"must be 1 to {MAX_KEY_CHARS} printable ASCII characters without spaces"
        raise ValidationError(f"{HEADER} {message}", details={"fields": {HEADER: message}})
    return key


def new_org_id() -> uuid.UUID:
    """The id of an org being created: derived from (actor, key) when keyed, so a retry lands in the same org."""
    key = request_key()
    if key is None:
        return uuid.uuid4()
    return uuid.uuid5(_NEW_ORG_NAMESPACE, f"{g.identity.user_id}\n{key}")


def _session_org() -> object:
    return g.identity.org_id


def _fingerprint() -> str:
    """What makes a retry the same request: method, path and body (JSON compared by value)."""
    body = request.get_json(silent=True) if request.is_json else None
    payload = (json.dumps(body, sort_keys=True, separators=(",", ":")).encode() if body is not None
               else request.get_data(cache=True))
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(payload)
    return digest.hexdigest()


def _stored_response(scope: Scope, key: str, fingerprint: str) -> Response | None:
    """The first response to this key, None if there is none, or 409 / 422."""
    lock_name = f"idempotency:{scope.org_id}:{scope.user_id}:{key}"
    if not scope.fetch_value(_CLAIM, (lock_name,)):
        raise IdempotencyInFlightError(f"a request with this {HEADER} is still in progress; retry shortly")
    row = scope.fetch_one(_FIND, (scope.org_id, scope.user_id, key))
    if row is None:
        return None
    if row["request_fingerprint"] != fingerprint:
        raise IdempotencyKeyReusedError(
            f"this {HEADER} was already used for a different request; use a new key for a new request",
            details={"fields": {HEADER: "was used for a different request"}})
    response = Response(row["response_body"], status=row["response_status"], headers=row["response_headers"])
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _store(scope: Scope, key: str, fingerprint: str, response: Response) -> None:
    headers = {name: response.headers[name] for name in _KEPT_HEADERS if name in response.headers}
    ttl_s = services().settings.http.idempotency_ttl_s
    scope.execute(_PURGE, (scope.org_id,))
    scope.execute(_STORE, (scope.org_id, scope.user_id, key, fingerprint, response.status_code,
                           Jsonb(headers), response.get_data(as_text=True), ttl_s))


def wrap(view: F, org: Callable[[], object] | None = None) -> F:
    """The view, run with its Idempotency-Key (when the request has one) in one transaction with its write."""
    org_of = org or _session_org

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request_key()
        if key is None:
            return view(*args, **kwargs)
        fingerprint, db = _fingerprint(), services().db
        with db.transaction(org_of(), user_id=g.identity.user_id) as scope:
            stored = _stored_response(scope, key, fingerprint)
            if stored is not None:
                return stored
            with db.joining(scope):
                response = current_app.make_response(view(*args, **kwargs))
            _store(scope, key, fingerprint, response)
        return response

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the view's signature


def is_idempotent(view: object) -> bool:
    declared = endpoint_of(view)
    return declared is not None and declared.idempotent
