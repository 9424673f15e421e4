"""Every error path answers `{"code", "message"}` (+ "fields") at the top level, never a trace or SQL.

Database errors are raised for real, by real statements against PostgreSQL,
through probe routes that use the app's own door.
"""
from __future__ import annotations

import importlib
import pkgutil
import uuid

import pytest
from flask import Blueprint, g

from app.api import get_db
from app.endpoint import endpoint
from app.errors import AtlasError
from app.errors.access import OriginRefusedError
from app.errors.better_auth import BetterAuthError
from app.permissions import MEMBER, PUBLIC
from tests.support.api import PASSWORD, close_app, make_app, sign_up, two_org_world
from tests.support.errors import error_of, is_exact_error

LEAKS = ("Traceback", "SELECT", "INSERT", "UPDATE ", "audit_log", "psycopg", "File \"", "violates")


def assert_error(response, status: int, code: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    assert is_exact_error(body), body
    error = error_of(body)
    assert set(error) in ({"code", "message"}, {"code", "message", "fields"})
    assert isinstance(error["code"], str) and isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code
    text = response.get_data(as_text=True)
    assert not any(leak in text for leak in LEAKS), text
    return error


def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_all_subclasses(sub)]
    return found


def _atlas_errors() -> list[type[AtlasError]]:
    for family in pkgutil.iter_modules(importlib.import_module("app.errors").__path__):  # every family's classes, imported or not yet
        importlib.import_module(f"app.errors.{family.name}")
    return sorted(set(_all_subclasses(AtlasError)), key=lambda c: c.__name__)


_DB_PROBES = {
    # name: (SQL run in the session org's transaction, status, code)
    "rls_violation": ("INSERT INTO audit_log (org_id, action, entity) VALUES (gen_random_uuid(), 'x', 'y')",
                      403, "forbidden"),
    "no_grant": ("DELETE FROM audit_log", 403, "forbidden"),
    "unique": ("INSERT INTO members (org_id, user_id, role) SELECT org_id, user_id, role FROM members"
               " WHERE org_id = app.current_org() LIMIT 1", 409, "conflict"),
    "check": ("INSERT INTO audit_log (org_id, action, entity, outcome)"
              " VALUES (app.current_org(), 'x', 'y', 'bogus')", 400, "validation_error"),
    "foreign_key": ("INSERT INTO members (org_id, user_id) VALUES (app.current_org(), gen_random_uuid())",
                    400, "validation_error"),
    "not_null": ("INSERT INTO audit_log (org_id, action, entity) VALUES (app.current_org(), NULL, 'y')",
                 400, "validation_error"),
    "bad_text": ("SELECT 'not-a-uuid'::uuid", 400, "validation_error"),
    "timeout": ("SET LOCAL statement_timeout = '20ms'; SELECT pg_sleep(2)", 503, "statement_timeout"),
    "syntax": ("SELEC secret_column FROM audit_log", 500, "internal_error"),
}


def probe_blueprint() -> Blueprint:
    bp = Blueprint("error_probe", __name__, url_prefix="/_err")

    @bp.get("/db/<name>")
    @endpoint(MEMBER)
    def db(name: str):  # type: ignore[no-untyped-def]
        with get_db().transaction(g.identity.org_id, user_id=g.identity.user_id) as scope:
            for statement in _DB_PROBES[name][0].split("; "):
                scope.execute(statement)
        return {"unreachable": True}

    @bp.get("/raise/<name>")
    @endpoint(PUBLIC)
    def raise_error(name: str):  # type: ignore[no-untyped-def]
        cls = {c.__name__: c for c in _atlas_errors()}[name]
        # Server faults (500) may carry internal text; it must not reach the client.
        internal = cls.status >= 500 and cls.status != 503
        if cls is BetterAuthError:
            raise cls(cls.code)  # its argument is one of Better Auth's codes
        if cls is OriginRefusedError:
            raise cls(missing=False)
        raise cls("SELECT secret FROM audit_log" if internal else f"{name} happened")

    @bp.get("/crash")
    @endpoint(PUBLIC)
    def crash():  # type: ignore[no-untyped-def]
        raise RuntimeError('File "app.py": SELECT password_hash FROM users')

    return bp


@pytest.fixture(scope="module")
def world(db_factory):
    with two_org_world(db_factory, blueprints=[probe_blueprint()]) as world:
        yield world


@pytest.mark.parametrize("name", sorted(_DB_PROBES))
def test_database_errors_map_by_class(world, name):
    _, status, code = _DB_PROBES[name]
    assert_error(world.user("a", "owner").get(f"/_err/db/{name}"), status, code)


@pytest.mark.parametrize("cls", _atlas_errors(), ids=lambda c: c.__name__)
def test_every_atlas_error_renders_with_its_status_and_code(world, cls):
    error = assert_error(world.app.test_client().get(f"/_err/raise/{cls.__name__}"),
                         cls.status if cls.status < 500 or cls.status == 503 else 500)
    if cls.status < 500 or cls.status == 503:
        assert error["code"] == cls.code


def test_an_unexpected_exception_is_a_generic_500_with_the_request_id(world):
    r = world.app.test_client().get("/_err/crash", headers={"X-Request-Id": "trace-me-1"})
    error = assert_error(r, 500, "internal_error")
    assert "trace-me-1" in error["message"]


def test_http_level_errors(world):
    client = world.app.test_client()
    assert_error(client.get("/api/no/such/path"), 404, "not_found")  # outside /api: the console's 404 page
    assert_error(client.get("/api/v1/settings/nope"), 404, "not_found")
    assert_error(client.get("/api/auth/no-such-endpoint"), 404, "NOT_FOUND")  # Better Auth's codes there
    assert_error(client.get("/api/auth/sign-in/email"), 405, "METHOD_NOT_ALLOWED")
    assert_error(client.delete("/api/v1/settings"), 405, "method_not_allowed")
    assert_error(client.post("/api/auth/sign-in/email", data="x" * (3 * 1024 * 1024),
                             content_type="application/json"), 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize("data,content_type", [
    ("{not json", "application/json"), ("[1, 2]", "application/json"),
    ("email=a@b.c", "application/x-www-form-urlencoded"),
])
def test_a_body_that_is_not_a_json_object_is_400(world, data, content_type):
    r = world.app.test_client().post("/api/auth/sign-in/email", data=data, content_type=content_type)
    assert_error(r, 400, "VALIDATION_ERROR")


def test_application_error_paths(world):
    client = world.app.test_client()
    member, admin = world.user("a", "member"), world.user("a", "admin")
    fields = assert_error(client.post("/api/auth/sign-up/email", json={"email": "bad"}), 400,
                          "VALIDATION_ERROR")["fields"]
    assert set(fields) == {"email", "password", "name"}
    assert_error(client.post("/api/auth/sign-in/email", json={"email": "owner@acme.test", "password": "nope"}),
                 401, "INVALID_EMAIL_OR_PASSWORD")
    assert_error(client.get("/api/auth/list-sessions"), 401, "UNAUTHORIZED")
    assert_error(client.get("/api/v1/contacts"), 401, "unauthorized")
    assert_error(member.get("/api/auth/organization/list-invitations"), 403, "YOU_ARE_NOT_ALLOWED_TO_LIST_INVITATIONS")
    assert_error(member.get("/api/v1/admin/audit"), 403, "forbidden")
    assert_error(admin.get(f"/api/auth/organization/list-members?organizationId={world.org_b}"), 403,
                 "CROSS_ORG_REFUSED")
    assert_error(admin.post("/api/auth/organization/update-member-role",
                            json={"memberId": str(uuid.uuid4()), "role": "member"}), 400, "MEMBER_NOT_FOUND")
    assert_error(admin.post("/api/auth/organization/create", json={"name": "A", "slug": "acme"}), 400,
                 "ORGANIZATION_ALREADY_EXISTS")
    assert_error(client.post("/api/auth/sign-up/email",
                             json={"email": "owner@acme.test", "password": PASSWORD, "name": "x"}),
                 422, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL")
    loner = sign_up(world.app, f"loner-{uuid.uuid4().hex[:6]}@x.test")
    assert_error(loner.get("/api/auth/organization/get-active-member"), 400, "NO_ACTIVE_ORGANIZATION")
    assert_error(loner.get("/api/v1/contacts"), 403, "no_active_organization")


def test_an_unreachable_database_is_503_with_an_actionable_message(fresh_db):
    app = make_app(fresh_db, database_url="postgresql://postgres@127.0.0.1:1/atlas", role_prefix="nowhere",
                   pool_min_size=0, pool_timeout_s=0.3)
    try:
        r = app.test_client().post("/api/auth/sign-in/email", json={"email": "a@b.test", "password": PASSWORD})
        # The database is down, not the pool too small: the message must not send operators to the pool size.
        error = assert_error(r, 503, "DATABASE_UNAVAILABLE")
        assert "database is unreachable" in error["message"] and "ATLAS_POOL" not in error["message"]
    finally:
        close_app(app)


def test_error_classes_carry_a_status_and_a_code():
    for cls in _atlas_errors() + [AtlasError]:
        assert isinstance(cls.status, int) and isinstance(cls.code, str) and cls.code


def test_every_exception_class_of_the_app_is_defined_in_app_errors():
    """One package of errors: a class deriving from an exception anywhere else in app/ is refused."""
    import ast
    import builtins
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent / "app"
    exceptions = {name for name in dir(builtins) if isinstance(getattr(builtins, name), type)
                  and issubclass(getattr(builtins, name), BaseException)}
    exceptions |= {c.__name__ for c in _all_subclasses(AtlasError)} | {"AtlasError"}
    misplaced = []
    for path in root.rglob("*.py"):
        if root / "errors" in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
                if bases & exceptions or any(b.endswith(("Error", "Exception")) for b in bases):
                    misplaced.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name}")
    assert misplaced == []
