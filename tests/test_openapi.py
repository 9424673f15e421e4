"""The OpenAPI document: complete, valid, truthful about access and shapes, and fuzzed without a 5xx."""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.api.spec import build_document, component_name, documented_operations, openapi_path
from app.devdb import databases
from app.endpoint import endpoint_of
from app.entities import ENTITIES
from app.permissions import can
from tests.support.api import (
    ApiUser,
    TwoOrgs,
    anonymous,
    build_two_orgs,
    close_app,
    create_org,
    invite_and_join,
    make_app,
    sign_up,
    two_org_world,
)
from tests.support.errors import error_of, is_exact_error

IGNORED_METHODS = {"HEAD", "OPTIONS"}
MAX_EXAMPLES = 12  # per operation; with the fixed seed the run is the same every time


def served(app: Flask) -> dict[str, Any]:
    r = anonymous(app).get("/api/openapi.json")
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def url_map_operations(app: Flask) -> dict[tuple[str, str], str]:
    """(METHOD, OpenAPI path) -> endpoint, for every rule the app routes (the console's HTML pages are not API,
    nor another standard's protocol: OAuth's endpoints declared `documented=False` (app/api/oauth_routes.py), and
    SCIM under /scim/v2, which describes itself at ServiceProviderConfig, Schemas and ResourceTypes and answers
    SCIM's error message, RFC 7644; tests/test_scim.py runs scim2-tester against it)."""
    return {
        (method, openapi_path(rule.rule)): rule.endpoint
        for rule in app.url_map.iter_rules() if rule.endpoint != "static"
        and not rule.endpoint.startswith(("console.", "scim."))
        and getattr(endpoint_of(app.view_functions[rule.endpoint]), "documented", True)
        for method in sorted(rule.methods - IGNORED_METHODS)
    }


def conforms(document: dict[str, Any], component: str, instance: Any) -> list[str]:
    """Validation messages of `instance` against a component schema (refs resolved in the document)."""
    schema = {"$ref": f"#/components/schemas/{component}", "components": document["components"]}
    validator = OAS30Validator(schema, format_checker=oas30_format_checker)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]


# ----- completeness and validity ----------------------------------------------------------------
def test_every_routed_endpoint_and_method_is_documented(api_app: Flask) -> None:
    missing = set(url_map_operations(api_app)) - documented_operations(served(api_app))
    assert not missing, f"undocumented endpoints (declare them with @endpoint, app/endpoint.py): {sorted(missing)}"


def test_a_new_undocumented_route_is_caught(api_app: Flask) -> None:
    """The completeness check can fail: a route added without a description shows up as missing."""
    api_app.add_url_rule("/api/v1/undocumented/<thing>", "undocumented", lambda thing: {}, methods=["PUT"])
    missing = set(url_map_operations(api_app)) - documented_operations(served(api_app))
    assert missing == {("PUT", "/api/v1/undocumented/{thing}")}


def test_the_document_describes_no_endpoint_the_app_lacks(api_app: Flask) -> None:
    phantom = documented_operations(served(api_app)) - set(url_map_operations(api_app))
    assert not phantom, f"documented but not routed: {sorted(phantom)}"


def test_served_document_is_valid_openapi_without_a_session(api_app: Flask) -> None:
    document = served(api_app)
    validate(document)
    assert document["openapi"].startswith("3.")


def test_document_validator_rejects_a_broken_document(api_app: Flask) -> None:
    """The validity test can fail: a dangling $ref is refused."""
    document = served(api_app)
    document["paths"]["/api/v1/contacts"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"] = {"$ref": "#/components/schemas/NoSuchThing"}
    with pytest.raises(Exception, match="NoSuchThing"):
        validate(document)


def test_security_schemes_are_the_session_cookie_and_bearer(api_app: Flask) -> None:
    document = served(api_app)
    schemes = document["components"]["securitySchemes"]
    assert schemes["sessionCookie"] == {"type": "apiKey", "in": "cookie", "name": "better-auth.session_token"}
    assert schemes["bearer"]["type"] == "http" and schemes["bearer"]["scheme"] == "bearer"
    assert document["security"] == [{"sessionCookie": []}, {"bearer": []}]


def test_every_operation_answers_errors_in_the_one_error_shape(api_app: Flask) -> None:
    document = served(api_app)
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method != "parameters":
                error = op["responses"]["default"]["content"]["application/json"]["schema"]
                assert error == {"$ref": "#/components/schemas/Error"}, (method, path)


# ----- the schemas are what the API really answers -------------------------------------------------
def test_real_error_responses_match_the_error_schema(api_app: Flask) -> None:
    document = served(api_app)
    client = anonymous(api_app)
    unauthorized = client.get("/api/v1/contacts")
    invalid = client.post("/api/auth/sign-up/email", json={"email": "nope", "password": "x"})
    assert (unauthorized.status_code, invalid.status_code) == (401, 400)
    assert "fields" in error_of(invalid)
    for response in (unauthorized, invalid):
        assert conforms(document, "Error", response.get_json()) == []
    assert conforms(document, "Error", {"code": 1}), "the Error schema must be able to refuse"


@pytest.mark.parametrize("entity_name", sorted(ENTITIES))
def test_created_and_listed_rows_match_the_entity_schema(api_app: Flask, entity_name: str) -> None:
    document = served(api_app)
    entity = ENTITIES[entity_name]
    owner = sign_up(api_app, "schema-owner@example.test")
    create_org(owner, "Schema", "schema")
    body = {f.name: "Example.txt" for f in entity.fields if f.required}
    assert conforms(document, f"{component_name(entity)}Create", body) == []
    created = owner.post(f"/api/v1/{entity.name}", json=body)
    assert created.status_code == 201, created.get_json()
    listed = owner.get(f"/api/v1/{entity.name}")
    assert listed.status_code == 200
    assert conforms(document, component_name(entity), created.get_json()) == []
    for row in listed.get_json()["data"]:
        assert conforms(document, component_name(entity), row) == []


def test_create_schema_refuses_what_the_api_refuses(api_app: Flask) -> None:
    document = served(api_app)
    assert conforms(document, "ContactCreate", {"last_name": "no first name"})
    assert conforms(document, "ContactCreate", {"first_name": "A", "id": "not writable"})
    assert conforms(document, "ContactCreate", {"first_name": "A", "lifecycle_stage": "unknown"})


# ----- the benchmark's bare endpoint (scripts/bench_bare.py) ---------------------------------------
def test_bench_bare_endpoint_does_not_exist_in_a_normal_app(api_app: Flask) -> None:
    assert not any(r.rule.startswith("/api/bench") for r in api_app.url_map.iter_rules())
    assert anonymous(api_app).get("/api/bench/bare/contacts").status_code == 404


def test_bench_bare_endpoint_answers_the_same_page_as_the_full_stack(fresh_db: databases.TestDatabase) -> None:
    from scripts import bench_bare

    app = make_app(fresh_db)
    bench_bare.register(app)
    try:
        world = build_two_orgs(app, fresh_db)
        for org in ("a", "b"):
            for i in range(3):
                r = world.user(org, "member").post("/api/v1/contacts", json={"first_name": f"{org}{i}"})
                assert r.status_code == 201
        full = world.user("a", "member").get("/api/v1/contacts?limit=50").get_json()
        bare = anonymous(app).get(f"/api/bench/bare/contacts?org={world.org_a}&limit=50").get_json()
        assert bare == full and [row["first_name"] for row in full["data"]] == ["a0", "a1", "a2"]
    finally:
        bench_bare.close(app)
        close_app(app)


# ----- a bounded schemathesis run against the live app ----------------------------------------
# Operations that end or move the caller's session (sign-out revokes it, set-active revokes it for
# a new one, leave drops the membership) get a fresh throwaway member per example instead of the
# shared one, so they are fuzzed too and the rest of the run keeps a working session. No operation
# is excluded; one kind of input is (NUL characters, see live_schema). The caller is an org member
# of Acme, and its admin for what a member may not do (see FUZZED). Besides "no 5xx", each response
# must match the document (status code, content type, body schema).
def one_error_shape(ctx: Any, response: Any, case: Any) -> None:
    """Every 4xx is exactly {"code", "message"[, "fields"]}, not merely a superset of it."""
    if response.status_code >= 400:
        body = response.json()
        assert is_exact_error(body), body
        assert set(error_of(body)) in ({"code", "message"}, {"code", "message", "fields"}), body


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          one_error_shape]
SESSION_ENDING = {
    ("POST", "/api/auth/sign-out"),
    ("POST", "/api/auth/organization/set-active"),
    ("POST", "/api/auth/organization/leave"),
}
_serial = itertools.count(1)


def may_pass(role: str, access: str) -> bool:
    """Whether an org `role` gets past an operation's access check (x-atlas-access notation)."""
    if "; " in access:  # by_field: "field=value: access; ..." (some value of the field admits the role)
        return any(may_pass(role, choice.split(": ", 1)[1]) for choice in access.split("; "))
    if " or " in access:  # either: any audience admits
        return any(may_pass(role, part) for part in access.split(" or "))
    if access.startswith("roles:"):
        return role in access.removeprefix("roles:").split(",")
    if ":" in access:
        resource, action = access.split(":")
        return can(role, resource, action)
    return access in ("public", "login", "member")


def _access(method: str, path: str) -> str:
    return str(_DOCUMENT["paths"][path][method.lower()]["x-atlas-access"])


_DOCUMENT = build_document()
# Every operation as a member; again as an org admin where only an admin gets past the access
# check, so those are fuzzed beyond their 403 too. (Owner-only organization update/delete and the
# platform-admin operations are fuzzed as a member only, i.e. up to their 403.)
FUZZED = [("member", m, p) for m, p in sorted(documented_operations(_DOCUMENT))] + [
    ("admin", m, p) for m, p in sorted(documented_operations(_DOCUMENT))
    if may_pass("admin", _access(m, p)) and not may_pass("member", _access(m, p))
]


@pytest.fixture(scope="module")
def fuzz_world(db_factory: databases.DatabaseFactory, tmp_path_factory: Any) -> Iterator[TwoOrgs]:
    """One world for the whole run: Acme and Globex built through the API, on a database of its own."""
    with two_org_world(db_factory, semantic_root=str(tmp_path_factory.mktemp("semantic"))) as world:
        yield world


@pytest.fixture(scope="module")
def live_schema(fuzz_world: TwoOrgs) -> Any:
    """The document as served by the live app, loaded through schemathesis's WSGI loader."""
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_world.app)
    return schema


def caller_for(world: TwoOrgs, role: str, method: str, path: str) -> ApiUser:
    if (method, path) not in SESSION_ENDING:
        return world.user("a", role)
    throwaway = sign_up(world.app, f"fuzz{next(_serial)}@acme.test")
    invite_and_join(world.user("a", "owner"), throwaway, "member")
    return throwaway


@pytest.mark.parametrize(("role", "method", "path"), FUZZED, ids=[f"{r} {m} {p}" for r, m, p in FUZZED])
def test_fuzzed_requests_never_get_a_server_error(
    live_schema: Any, fuzz_world: TwoOrgs, role: str, method: str, path: str
) -> None:
    """Valid and invalid requests (schemathesis's positive and negative modes), a fixed seed: no 5xx,
    and every answer as documented."""
    operation = live_schema[path][method]
    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                         operation.as_strategy(GenerationMode.NEGATIVE))

    @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), phases=(Phase.explicit, Phase.generate))
    @given(case=strategy)
    def fuzz(case: Any) -> None:
        caller = caller_for(fuzz_world, role, method, path)
        case.call_and_validate(headers={"Authorization": f"Bearer {caller.token}"}, checks=CHECKS)

    fuzz()


# Found by the fuzz run: a NUL character (\u0000) in any text value used to reach psycopg, which
# refuses it client-side, and the client got a 500. Now refused at the edge for every input.
NUL_CASES = [
    ("POST", "/api/v1/accounts", {"name": "a\u0000b"}, {400}),
    ("PATCH", "/api/v1/leads/{lead}", {"first_name": "a\u0000b"}, {400}),
    ("GET", "/api/v1/accounts?industry=%00", None, {400}),
    ("POST", "/api/auth/organization/create", {"name": "N", "slug": "nul", "metadata": {"k": "\u0000"}}, {400}),
    ("GET", "/api/auth/organization/get-full-organization?organizationSlug=a%00", None, {400}),
]


@pytest.mark.parametrize(("method", "path", "body", "expected"), NUL_CASES, ids=[f"{c[0]} {c[1]}" for c in NUL_CASES])
def test_a_nul_character_in_input_is_a_client_error(
    two_orgs: TwoOrgs, method: str, path: str, body: Any, expected: set[int]
) -> None:
    member = two_orgs.user("a", "member")
    lead = member.post("/api/v1/leads", json={"first_name": "Lead"})
    assert lead.status_code == 201
    r = member.client.open(path.format(lead=lead.get_json()["id"]), method=method, json=body,
                           headers={"Authorization": f"Bearer {member.token}"})
    assert r.status_code in expected, (r.status_code, r.get_json())
