"""One non-CRM operation of the OpenAPI document, as app/openapi/operations.py declares them."""
from __future__ import annotations

from dataclasses import dataclass

from app.bodies import Body
from app.openapi.schemas import Schema


@dataclass(frozen=True)
class Op:
    """One non-CRM operation."""

    summary: str
    access: str  # as declared on the view: public, login, member, "<resource>:<action>", roles, "a or b"
    tag: str
    body: type[Body] | None = None
    response: Schema | None = None  # None: no body (204)
    status: int = 200
    query: tuple[tuple[str, Schema], ...] = ()
    idempotent: bool = False  # takes an Idempotency-Key header (app/idempotency.py)
    media_type: str = "application/json"
