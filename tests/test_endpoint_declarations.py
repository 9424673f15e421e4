"""One declaration per view: what the runtime does with it, and how query strings are read (no database)."""
from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, g

from app.api.spec.document import _bare_app, declared_routes
from app.bodies.crm import LIST
from app.bodies.queries import AuditFilter, JobFilter, MembersPage, Page
from app.bodies.query import validated_query
from app.bodies.requests import SettingsChange
from app.bodies.teams import TeamRef
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


def test_a_declared_body_is_parsed_after_the_query_and_handed_to_the_view() -> None:
    seen: list[Any] = []

    @endpoint(MEMBER, query=Page, body=SettingsChange, body_context=lambda: {"ranges": {"queryRowLimit": (1, 9)}})
    def view(args: Page, body: SettingsChange) -> str:
        seen.append((args.limit, body))
        return "ok"

    app = Flask("declared")
    app.add_url_rule("/things", "things", view, methods=["POST"])
    endpoint_runtime.init_app(app)
    wrapped = app.view_functions["things"]
    with app.test_request_context("/things?limit=5", method="POST", json={"queryRowLimit": 7}):
        assert wrapped() == "ok"
    (limit, body), = seen
    assert limit == 5 and isinstance(body, SettingsChange) and body.given() == {"queryRowLimit": 7}
    with app.test_request_context("/things", method="POST", json={"queryRowLimit": 10}), \
            pytest.raises(ValidationError) as caught:  # the context's range, asked per request
        wrapped()
    assert list(caught.value.details["fields"]) == ["queryRowLimit"]
    with app.test_request_context("/things?limit=0", method="POST", json={"queryRowLimit": 10}), \
            pytest.raises(ValidationError) as caught:  # a bad query string answers before a bad body
        wrapped()
    assert list(caught.value.details["fields"]) == ["limit"]
    assert len(seen) == 1


def test_a_view_that_declares_a_body_takes_it_or_says_it_reads_it_itself() -> None:
    @endpoint(MEMBER, body=TeamRef)
    def forgot() -> str:
        return "never"

    @endpoint(MEMBER, body=TeamRef, reads_body=True)
    def reads() -> str:
        return "its own"

    app = Flask("declared")
    app.add_url_rule("/reads", "reads", reads, methods=["POST"])
    endpoint_runtime.init_app(app)
    with app.test_request_context("/reads", method="POST", json=["not", "an", "object"]):
        assert app.view_functions["reads"]() == "its own"  # nothing parsed on its behalf
    app.add_url_rule("/forgot", "forgot", forgot, methods=["POST"])
    with pytest.raises(TypeError, match="takes no `body`"):  # when the app is built, not per request
        endpoint_runtime.init_app(app)
