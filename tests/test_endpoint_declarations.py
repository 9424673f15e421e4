"""One declaration per view: what the runtime does with it, and how query strings are read (no database)."""
from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, g

from app.api.spec.document import _bare_app, declared_routes
from app.bodies.crm import LIST
from app.bodies.queries import AuditFilter, JobFilter, MembersPage, Page
from app.bodies.query import validated_query
from app.endpoint import Endpoint, endpoint, endpoint_of
from app.errors import ValidationError
from app.http import endpoint_runtime
from app.permissions import MEMBER, PUBLIC
from app.placement import router


def refusal(model: Any, args: dict[str, str]) -> tuple[str, dict[str, str]]:
    with pytest.raises(ValidationError) as caught:
        validated_query(model, args)
    return caught.value.message, caught.value.details["fields"]


def test_every_api_route_is_declared_with_its_access() -> None:
    app = _bare_app()
    declared = {(method, path) for method, path, *_ in declared_routes(app)}
    routed = {(m, r.rule) for r in app.url_map.iter_rules() if not r.endpoint.startswith(("console.", "static"))
              for m in (r.methods or set()) - {"HEAD", "OPTIONS"}}
    assert len(declared) == len(routed) > 80


def test_an_empty_parameter_takes_its_default_and_a_bad_one_names_itself() -> None:
    assert validated_query(Page, {"limit": "", "cursor": ""}).limit == 50
    assert validated_query(JobFilter, {"scheduled": "true", "limit": "7"}).scheduled is True
    assert refusal(Page, {"limit": "0"}) == ("limit must be an integer between 1 and 200",
                                             {"limit": "must be an integer between 1 and 200"})
    assert refusal(JobFilter, {"limit": ""}) == ("limit must be an integer from 1 to 100",
                                                 {"limit": "must be from 1 to 100"})
    assert refusal(MembersPage, {"offset": "-1"})[1] == {"offset": "must be a non-negative integer"}
    assert refusal(LIST["contacts"], {"order": "sideways"})[1] == {"order": "must be asc or desc"}


def test_an_unknown_audit_filter_is_refused_before_a_bad_value() -> None:
    message, fields = refusal(AuditFilter, {"actor": "not-an-id", "zzz": "1"})
    assert list(fields) == ["zzz"] and message.startswith("zzz is not a filter; filters: action, actor")
    assert refusal(AuditFilter, {"actor": "not-an-id"})[1] == {"actor": "must be an id (a UUID string)"}
    assert refusal(AuditFilter, {"since": "yesterday"})[1] == {"since": "must be an ISO 8601 date or date-time"}


def test_the_runtime_runs_a_view_as_declared_and_parses_a_repeated_query_once() -> None:
    seen: list[Any] = []

    @endpoint(MEMBER, query=Page, control_plane=True, one_trip=True)
    def view(args: Page) -> str:
        seen.append((args, router._control.get()))
        return "ok"

    app = Flask("declared")
    app.add_url_rule("/things", "things", view)
    endpoint_runtime.init_app(app)
    wrapped = app.view_functions["things"]
    assert endpoint_of(wrapped) == endpoint_of(view)  # the declaration travels on the wrapper
    for _ in range(2):
        with app.test_request_context("/things?limit=5"):
            g.identity = None  # resolved already (app/http/hot_reads.py asks only when it is pending)
            assert wrapped() == "ok"
    (first, on_control), (second, _) = seen
    assert first.limit == 5 and on_control is True and second is first  # parsed once, frozen
    assert router._control.get() is False
    for _ in range(2):  # a refusal is never cached
        with app.test_request_context("/things?limit=500"), pytest.raises(ValidationError):
            g.identity = None
            wrapped()


def test_a_declaration_names_only_known_fields() -> None:
    with pytest.raises(TypeError):
        endpoint(PUBLIC, sessionles=True)  # a typo fails at import, not at request time
    assert Endpoint(access=PUBLIC).status == 200
