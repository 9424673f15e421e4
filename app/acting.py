"""Who the work in this context is done for: the audit trail's actor, API key, org and request id.

The HTTP layer sets it where it resolves a request's identity (app/http/identity.py,
app/http/hot_reads.py) and clears it when the request ends; an MCP tool call sets it for the call
(app/mcp/calls.py). Code below the HTTP layer reads it here instead of Flask's `g`, so the
audit trail (app/audit.py) imports no web framework. Work outside both (the job worker, the
CLI) acts for nobody and passes its actor explicitly.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Acting:
    """The caller of the current request or tool call; every field None for nobody."""

    user_id: uuid.UUID | None = None
    org_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    request_id: str | None = None


NOBODY = Acting()
_acting: ContextVar[Acting] = ContextVar("atlas_acting", default=NOBODY)


def acting() -> Acting:
    """Who the current context acts for (NOBODY outside a request or a tool call)."""
    return _acting.get()


def act(who: Acting) -> None:
    """Set who this context acts for, until the next `act` (the HTTP hooks call it per request)."""
    _acting.set(who)


@contextmanager
def acting_as(who: Acting) -> Iterator[None]:
    """Act for `who` inside the block, then for whoever acted before."""
    token = _acting.set(who)
    try:
        yield
    finally:
        _acting.reset(token)
