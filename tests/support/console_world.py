"""The world the console's browser tests share per module, built over HTTP against the live server.

Acme (owner, admin, member, analyst) and Globex (owner); `both@acme.test` belongs to both, Acme first,
so signing in binds to Acme. Each org has contacts only it has (last names Acmeonly, Globexonly);
Acme has a `contacts` semantic entity, Globex none.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.serving import request

PASSWORD = "console test password"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class World:
    port: int
    tokens: dict[str, str] = field(default_factory=dict)  # email -> a bearer token bound to the user's first org
    orgs: dict[str, str] = field(default_factory=dict)  # slug -> org id

    def call(self, method: str, path: str, body: Any = None, *, as_: str) -> Any:
        status, _, answer = request(self.port, method, path, body, self.tokens[as_])
        assert status < 300, (method, path, status, answer)
        return answer


def _sign_up(world: World, email: str) -> str:
    status, _, body = request(world.port, "POST", "/api/auth/sign-up/email",
                              {"email": email, "password": PASSWORD, "name": email.split("@")[0].title()})
    assert status == 200, body
    return str(body["token"])


def _org(world: World, slug: str) -> str:
    owner = f"owner@{slug}.test"
    token = _sign_up(world, owner)
    status, _, org = request(world.port, "POST", "/api/auth/organization/create",
                             {"name": slug.title(), "slug": slug}, token)
    assert status == 200, org
    status, headers, _ = request(world.port, "POST", "/api/auth/organization/set-active",
                                 {"organizationId": org["id"]}, token)
    assert status == 200
    world.tokens[owner], world.orgs[slug] = headers["set-auth-token"], org["id"]
    return str(org["id"])


def _join(world: World, slug: str, email: str, role: str) -> None:
    invitation = world.call("POST", "/api/auth/organization/invite-member", {"email": email, "role": role},
                            as_=f"owner@{slug}.test")
    if email not in world.tokens:
        world.tokens[email] = _sign_up(world, email)
    world.call("POST", "/api/auth/organization/accept-invitation", {"invitationId": invitation["id"]}, as_=email)
    if slug == "acme":  # the token works in Acme, where a sign-in binds too
        status, headers, _ = request(world.port, "POST", "/api/auth/organization/set-active",
                                     {"organizationId": world.orgs[slug]}, world.tokens[email])
        assert status == 200
        world.tokens[email] = headers["set-auth-token"]


def build_world(port: int, *, contacts: int = 30) -> World:
    world = World(port=port)
    _org(world, "acme")
    for email, role in (("admin@acme.test", "admin"), ("member@acme.test", "member"),
                        ("analyst@acme.test", "member"), ("both@acme.test", "member")):
        _join(world, "acme", email, role)
    _org(world, "globex")
    _join(world, "globex", "both@acme.test", "member")
    # Joining Globex made it the org used last (a sign-in lands there): back to Acme, so "Acme first" holds.
    status, headers, _ = request(world.port, "POST", "/api/auth/organization/set-active",
                                 {"organizationId": world.orgs["acme"]}, world.tokens["both@acme.test"])
    assert status == 200
    world.tokens["both@acme.test"] = headers["set-auth-token"]
    stages = ("lead", "customer", "subscriber")
    for i in range(contacts):
        world.call("POST", "/api/v1/contacts", {"first_name": f"Ada{i:02d}", "last_name": "Acmeonly",
                                                "lifecycle_stage": stages[i % 3]}, as_="owner@acme.test")
    world.call("POST", "/api/v1/contacts", {"first_name": "Grace", "last_name": "Globexonly"},
               as_="owner@globex.test")
    yaml = (ROOT / "semantic" / "entities" / "contacts.yml").read_text()
    world.call("PUT", "/api/v1/admin/semantic/org/entities/contacts", {"yamlContent": yaml}, as_="owner@acme.test")
    return world
