"""The API's OpenAPI document, derived in document.py from the URL map and each view's declaration."""
from __future__ import annotations

from app.api.spec.document import build_document, documented_operations, openapi_path
from app.bodies.crm import component_name

__all__ = ["build_document", "component_name", "documented_operations", "openapi_path"]
