"""Fixtures for API tests: an app on a fresh database, and two orgs built through the API.

Its fixtures (`api_app`, `two_orgs`) reach every test module through
`pytest_plugins` in tests/conftest.py.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Blueprint, Flask
from flask.testing import FlaskClient

from app import create_app
from app.devdb.databases import DatabaseFactory, TestDatabase

PASSWORD = "correct horse battery"
ROLES = ("member", "admin", "owner")


def app_config(db: TestDatabase, **overrides: Any) -> dict[str, Any]:
    """Config for a test app: cheap argon2, a small pool."""
    config: dict[str, Any] = {
        "database_url": db.admin_url,
        "role_prefix": db.roles.owner.removesuffix("_owner"),
        "pool_min_size": 1,
        "pool_max_size": 4,
        "pool_timeout_s": 5.0,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "argon2_parallelism": 1,
        "TESTING": True,
    }
    config.update(overrides)
    return config


def make_app(db: TestDatabase, **overrides: Any) -> Flask:
    """A create_app on `db`; close it with close_app."""
    return create_app(app_config(db, **overrides))


def close_app(app: Flask) -> None:
    from app import close_app as close

    close(app)


@dataclass
class ApiUser:
    """A signed-in user with their own test client; requests carry `Authorization: Bearer`."""

    client: FlaskClient
    token: str
    user_id: uuid.UUID
    email: str
    org_id: uuid.UUID | None = None
    role: str | None = None
    member_id: uuid.UUID | None = None

    def _headers(self, kw: dict) -> dict:
        headers = dict(kw.pop("headers", None) or {})
        headers.setdefault("Authorization", f"Bearer {self.token}")
        return headers

    def raw(self, method: str, path: str, **kw: Any):  # type: ignore[no-untyped-def]
        """A request without the bearer header (cookies of this client still apply)."""
        return self.client.open(path, method=method, **kw)

    def get(self, path: str, **kw: Any):  # type: ignore[no-untyped-def]
        return self.client.get(path, headers=self._headers(kw), **kw)

    def post(self, path: str, json: Any = None, **kw: Any):  # type: ignore[no-untyped-def]
        return self.client.post(path, json=json, headers=self._headers(kw), **kw)

    def patch(self, path: str, json: Any = None, **kw: Any):  # type: ignore[no-untyped-def]
        return self.client.patch(path, json=json, headers=self._headers(kw), **kw)

    def put(self, path: str, json: Any = None, **kw: Any):  # type: ignore[no-untyped-def]
        return self.client.put(path, json=json, headers=self._headers(kw), **kw)

    def delete(self, path: str, json: Any = None, **kw: Any):  # type: ignore[no-untyped-def]
        return self.client.delete(path, json=json, headers=self._headers(kw), **kw)

    def set_active(self, org_id: uuid.UUID | None) -> None:
        """Switch orgs through the API, adopting the fresh token."""
        r = self.post("/api/auth/organization/set-active",
                      json={"organizationId": None if org_id is None else str(org_id)})
        assert r.status_code == 200, r.get_json()
        self.token = r.headers["set-auth-token"]
        self.org_id = org_id


def sign_up(app: Flask, email: str, name: str | None = None, password: str = PASSWORD) -> ApiUser:
    client = app.test_client()
    r = client.post("/api/auth/sign-up/email",
                    json={"email": email, "password": password, "name": name or email.split("@")[0]})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    return ApiUser(client=client, token=body["token"], user_id=uuid.UUID(body["user"]["id"]), email=email)


def create_org(owner: ApiUser, name: str, slug: str) -> uuid.UUID:
    """Create an org as `owner` and bind their session to it."""
    r = owner.post("/api/auth/organization/create", json={"name": name, "slug": slug})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    org_id = uuid.UUID(body["id"])
    owner.set_active(org_id)
    owner.role, owner.member_id = "owner", uuid.UUID(body["members"][0]["id"])
    return org_id


def invite_and_join(inviter: ApiUser, invitee: ApiUser, role: str) -> None:
    """Invite, accept, and bind the invitee's session to the org."""
    r = inviter.post("/api/auth/organization/invite-member",
                     json={"email": invitee.email, "role": role})
    assert r.status_code == 200, r.get_json()
    r = invitee.post("/api/auth/organization/accept-invitation",
                     json={"invitationId": r.get_json()["id"]})
    assert r.status_code == 200, r.get_json()
    invitee.member_id = uuid.UUID(r.get_json()["member"]["id"])
    invitee.role = role
    invitee.set_active(inviter.org_id)


def create_team(admin: ApiUser, name: str, *members: ApiUser) -> dict[str, Any]:
    """Create a team in `admin`'s org (an admin or owner) with `members` in it; the team as answered."""
    r = admin.post("/api/auth/organization/create-team", json={"name": name})
    assert r.status_code == 200, r.get_json()
    team = r.get_json()
    for user in members:
        r = admin.post("/api/auth/organization/add-team-member", json={"teamId": team["id"], "userId": str(user.user_id)})
        assert r.status_code == 200, r.get_json()
    return team


@dataclass
class TwoOrgs:
    """Acme (org "a") and Globex (org "b"), each with an owner, an admin and a member."""

    app: Flask
    db: TestDatabase
    org_a: uuid.UUID
    org_b: uuid.UUID
    users: dict[tuple[str, str], ApiUser] = field(default_factory=dict)

    def user(self, org: str, role: str) -> ApiUser:
        return self.users[(org, role)]

    def org(self, org: str) -> uuid.UUID:
        return {"a": self.org_a, "b": self.org_b}[org]


def build_two_orgs(app: Flask, db: TestDatabase) -> TwoOrgs:
    users: dict[tuple[str, str], ApiUser] = {}
    org_ids = {}
    for key, name, slug in (("a", "Acme", "acme"), ("b", "Globex", "globex")):
        owner = sign_up(app, f"owner@{slug}.test")
        org_ids[key] = create_org(owner, name, slug)
        users[(key, "owner")] = owner
        for role in ("admin", "member"):
            user = sign_up(app, f"{role}@{slug}.test")
            invite_and_join(owner, user, role)
            users[(key, role)] = user
    return TwoOrgs(app=app, db=db, org_a=org_ids["a"], org_b=org_ids["b"], users=users)


@contextmanager
def two_org_world(db_factory: DatabaseFactory, *, blueprints: Iterable[Blueprint] = (),
                  **overrides: Any) -> Iterator[TwoOrgs]:
    """Acme and Globex built through the API on a clone of their own; closed and dropped after."""
    with db_factory.cloned() as db:
        app = make_app(db, **overrides)
        for blueprint in blueprints:
            app.register_blueprint(blueprint)
        try:
            yield build_two_orgs(app, db)
        finally:
            close_app(app)


def anonymous(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def api_app(fresh_db: TestDatabase) -> Iterator[Flask]:
    app = make_app(fresh_db)
    yield app
    close_app(app)


@pytest.fixture
def two_orgs(api_app: Flask, fresh_db: TestDatabase) -> TwoOrgs:
    return build_two_orgs(api_app, fresh_db)
