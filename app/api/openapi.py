"""GET /api/openapi.json: the API's OpenAPI 3 document (app/openapi/), public like a sign-in page."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from app.openapi import build_document
from app.permissions import public

bp = Blueprint("openapi", __name__, url_prefix="/api")
_CACHE_KEY = "atlas_openapi_document"


@bp.get("/openapi.json")
@public
def openapi_document() -> ResponseReturnValue:
    """Built once per app: the declarations it is made from do not change while the app runs."""
    document = current_app.extensions.get(_CACHE_KEY)
    if document is None:
        document = current_app.extensions[_CACHE_KEY] = build_document()
    response = jsonify(document)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
