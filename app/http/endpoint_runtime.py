"""Each view run as its declaration says (app/endpoint.py), applied once when the app is built.

From the outside in: the control plane (app/placement), the one-trip fail-closed
check (app/http/hot_reads.py), the Idempotency-Key transaction (app/http/idempotency.py),
then the query string parsed into the declared model and passed as `args`, then the JSON
body parsed into the declared model and passed as `body` (innermost, so a 401 still answers
before a 400 for a bad argument, and a bad query string before a bad body, as when views
parsed them first thing themselves).
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, request

from app.bodies import Body, validated
from app.bodies.query import Query, validated_query
from app.endpoint import Endpoint, endpoint_of
from app.http import hot_reads, idempotency
from app.http.body import json_body
from app.placement.router import run_on_control_plane

View = Callable[..., Any]


@functools.lru_cache(maxsize=1024)
def _parsed(model: type[Query], query_string: bytes) -> Query:
    """This request's query string (`query_string` is its raw text) as `model`.

    Cached by the raw text, for the hot reads only (app/http/hot_reads.py: lists read again with the
    same parameters, whose query strings carry no secret): the models are frozen, so a repeated
    read parses nothing. A refusal is raised afresh every time.
    """
    return validated_query(model, request.args)


def _with_args(view: View, model: type[Query], *, cached: bool) -> View:
    @functools.wraps(view)
    def parsed(*args: Any, **kwargs: Any) -> Any:
        query = _parsed(model, request.query_string) if cached else validated_query(model, request.args)
        return view(*args, args=query, **kwargs)
    return parsed


def _with_body(view: View, model: type[Body], context: Callable[[], Mapping[str, Any]] | None) -> View:
    if "body" not in inspect.signature(view).parameters:  # when the app is built, not per request
        raise TypeError(f"{view.__qualname__} declares body={model.__name__} but takes no `body` "
                        "(or declare reads_body=True and say why)")

    # What parsed_body(model) does, without its frame: a view that parsed its own body made as many calls.
    if context is None:
        @functools.wraps(view)
        def parsed(*args: Any, **kwargs: Any) -> Any:
            return view(*args, body=validated(model, json_body()), **kwargs)
    else:
        @functools.wraps(view)
        def parsed(*args: Any, **kwargs: Any) -> Any:
            return view(*args, body=validated(model, json_body(), context=context()), **kwargs)
    return parsed


def run_as_declared(view: View, declared: Endpoint) -> View:
    """`view` wrapped in what its declaration asks for (the view itself when it asks for nothing)."""
    if declared.body is not None and not declared.reads_body:
        view = _with_body(view, declared.body, declared.body_context)
    if declared.query is not None:
        view = _with_args(view, declared.query, cached=declared.one_trip)
    if declared.idempotent:
        view = idempotency.wrap(view, declared.write_org)
    if declared.one_trip:
        view = hot_reads.wrap(view)
    if declared.control_plane:
        view = run_on_control_plane(view)
    return view


def init_app(app: Flask) -> None:
    """Register after every blueprint: each declared view is replaced by its wrapped self."""
    for name, view in list(app.view_functions.items()):
        declared = endpoint_of(view)
        if declared is not None:
            app.view_functions[name] = run_as_declared(view, declared)
