"""Encoded JSON as Flask responses: the hot paths' bodies (app/serialize.py encodes them) sent as they are."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response

from app.serialize import dumps


def json_response(body: bytes, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """Encoded JSON as the response, as Flask's provider would send it (one trailing newline)."""
    return Response(body + b"\n", status=status, headers=dict(headers or {}), mimetype="application/json")


def object_response(row: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """One row as the response body."""
    return json_response(dumps(row), status, headers)
