"""GET /api/openapi.json: the API's OpenAPI 3 document (app/openapi/), public like a sign-in page."""
from __future__ import annotations

import functools

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from app.api.spec import build_document
from app.api.spec.schemas import Schema
from app.endpoint import endpoint
from app.permissions import PUBLIC

bp = Blueprint("openapi", __name__, url_prefix="/api")


@functools.cache
def _document() -> Schema:
    """Built once per process: the declarations it is made from do not change while it runs."""
    return build_document()


@bp.get("/openapi.json")
@endpoint(PUBLIC, tag="meta", response={"type": "object"})
def openapi_document() -> ResponseReturnValue:
    """This document."""
    response = jsonify(_document())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
