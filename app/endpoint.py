"""Each view's contract, declared once: who may call it, what it takes and answers, and how it runs.

    from app.endpoint import endpoint
    from app.permissions import permission

    @bp.get("")
    @endpoint(permission("job", "read"), tag="jobs", query=JobFilter,
              response=obj(("data",), data={"type": "array", "items": ref("Job")}))
    def list_jobs(args: JobFilter) -> ResponseReturnValue:
        \"\"\"The org's jobs, newest first.\"\"\"
        ...

The declaration is data: one frozen `Endpoint` on the view function. Everything else reads it:

- app/http/access.py's hook enforces `access` (and refuses an API key on `people_only` views);
- app/auth/identity.py skips the session lookup (`sessionless`) or leaves it to the view (`one_trip`);
- app/http/endpoint_runtime.py, when the app is built, wraps each view as declared: control plane,
  one trip, idempotency key, the parsed query string handed to the view as `args` and the parsed
  JSON body as `body`;
- app/openapi/ builds the operation from it: the summary is the docstring's first paragraph,
  parameters, body and response come from `query`, `body` and `response`.

A view without a declaration is refused (fail closed); tests/test_permissions.py walks the URL map.
This module imports nothing of the app at run time, so every layer may read a declaration.
The manual, field by field: docs/endpoints.md.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from app.bodies import Body
    from app.bodies.query import Query
    from app.permissions import Access

F = TypeVar("F", bound=Callable[..., Any])
ATTRIBUTE = "atlas_endpoint"  # the one attribute a declaration travels on


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """One view's contract (see the module docstring for who reads which field)."""

    access: Access | None = None
    tag: str = ""  # the OpenAPI tag (the API area)
    summary: str = ""  # default: the docstring's first paragraph (generated views set it)
    body: type[Body] | None = None  # the request body model, parsed and passed to the view as `body`
    body_context: Callable[[], Mapping[str, Any]] | None = None  # the body's validation context, per request
    reads_body: bool = False  # the view reads its body itself (a comment says why); `body` only documents it
    query: type[Query] | None = None  # the query-string model, parsed and passed to the view as `args`
    response: dict[str, Any] | None = None  # the success response's schema; None: no body
    status: int = 200
    media_type: str = "application/json"
    idempotent: bool = False  # takes an Idempotency-Key header (app/http/idempotency.py)
    write_org: Callable[[], object] | None = None  # idempotent: the org written in, when not the session's
    one_trip: bool = False  # reads its session with its data (app/http/hot_reads.py)
    one_trip_write: bool = False  # creates in one round trip with its session (app/http/hot_reads.py)
    sessionless: bool = False  # never reads a session (probes, console pages)
    people_only: bool = False  # an API key may not call it: a person's session only
    control_plane: bool = False  # its org transactions run in the shared database (app/placement)
    documented: bool = True  # False: another standard's protocol (OAuth's RFC shapes), not in the OpenAPI document


def endpoint(access: Access, **contract: Any) -> Callable[[F], F]:
    """Declare a view's whole contract (the fields of `Endpoint`); unknown fields fail at import."""
    declaration = Endpoint(access=access, **contract)
    return lambda view: declare(view, declaration)


def declare(view: F, declaration: Endpoint) -> F:
    """Attach a built declaration (the generated CRM views build theirs from app/entities.py)."""
    setattr(view, ATTRIBUTE, declaration)
    return view


def endpoint_of(view: object) -> Endpoint | None:
    return getattr(view, ATTRIBUTE, None)
