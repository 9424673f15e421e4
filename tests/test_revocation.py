"""Revocation takes effect at once on every worker: from the moment the response to a revoking action
is sent, no request with the old token or the old role is accepted, and a session is minted from
another only by consuming it.

Each test runs against a real server (granian, as atlas serve runs it) with two workers sharing only the database. Every probe goes
out on a fresh connection, the access log names the worker that answered, and each test checks that
both workers answered. Before the action the same probes succeed on both workers (so a per-process
cache, if there were one, would hold the old identity); after it, not one may succeed. The actions on
keys and members run again for an org moved to a database of its own (docs/placement.md).
"""
from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from app.devdb import databases
from tests.support.api import PASSWORD
from tests.support.placement import CACHE_S, atlas
from tests.support.serving import ServedApp, served_app

PROBES_AFTER = 48
PROBES_BEFORE = 16
ORG = "/api/auth/organization"


@dataclass
class Env:
    server: ServedApp
    db: databases.TestDatabase


@pytest.fixture(scope="module")
def env(db_factory: databases.DatabaseFactory) -> Iterator[Env]:
    db = db_factory.clone()
    try:
        with served_app(db, workers=2, threads=4, placement_cache_s=CACHE_S) as server:
            yield Env(server, db)
    finally:
        db_factory.drop(db.name)


def _ok(env: Env, method: str, path: str, *, token: str | None = None, body: Any = None) -> tuple[dict, Any]:
    status, headers, data = env.server.call(method, path, token=token, body=body)
    assert status == 200, (method, path, status, data)
    return headers, data


def _sign_up(env: Env, email: str) -> str:
    return _ok(env, "POST", "/api/auth/sign-up/email",
               body={"email": email, "password": PASSWORD, "name": email.split("@")[0]})[1]["token"]


def _switch(env: Env, token: str, org_id: str | None) -> str:
    return _ok(env, "POST", f"{ORG}/set-active", token=token, body={"organizationId": org_id})[0]["set-auth-token"]


@dataclass
class Org:
    """An org built through the API: its id, and each role's token (session on the org) and member id."""

    id: str
    tokens: dict[str, str] = field(default_factory=dict)
    member_ids: dict[str, str] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)


def _org(env: Env, roles: tuple[str, ...] = ("admin", "member")) -> Org:
    tag = uuid.uuid4().hex[:10]
    owner_email = f"owner-{tag}@revocation.test"
    owner = _sign_up(env, owner_email)
    created = _ok(env, "POST", f"{ORG}/create", token=owner, body={"name": tag, "slug": f"o-{tag}"})[1]
    org = Org(id=created["id"])
    org.tokens["owner"] = _switch(env, owner, org.id)
    org.member_ids["owner"], org.emails["owner"] = created["members"][0]["id"], owner_email
    for role in roles:
        email = f"{role}-{tag}@revocation.test"
        token = _sign_up(env, email)
        invitation = _ok(env, "POST", f"{ORG}/invite-member", token=org.tokens["owner"],
                         body={"email": email, "role": role})[1]["id"]
        member = _ok(env, "POST", f"{ORG}/accept-invitation", token=token, body={"invitationId": invitation})[1]
        org.tokens[role], org.member_ids[role], org.emails[role] = _switch(env, token, org.id), \
            member["member"]["id"], email
    return org


# ----- probes: (method, path, token, body) sent many times over fresh connections -----

@dataclass(frozen=True)
class Probe:
    method: str
    path: str
    token: str
    body: Callable[[str], Any] | None = None  # the request's tag -> its body (so each write is traceable)
    before: int = 200  # the answer while the token or role is valid
    after: int = 401  # the answer once it is revoked


def _contact(tag: str) -> dict:
    return {"first_name": tag, "last_name": "Probe"}


def _invite(tag: str) -> dict:
    return {"email": f"{tag}@invited.test", "role": "member"}


def _burst(env: Env, probes: list[Probe], phase: str, *, count: int) -> list[tuple[Probe, int, str]]:
    """Send `count` requests cycling through `probes`, six at a time, each on a new connection.

    Returns (probe, status, tag) per request; asserts that both workers answered some of them.
    """
    prefix = f"{phase}-{uuid.uuid4().hex[:8]}-"
    jobs = [(probes[n % len(probes)], f"{prefix}{n}") for n in range(count)]

    def send(job: tuple[Probe, str]) -> tuple[Probe, int, str]:
        probe, tag = job
        status, _, _ = env.server.call(probe.method, probe.path, token=probe.token, tag=tag,
                                       body=probe.body(tag) if probe.body else None)
        return probe, status, tag

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(send, jobs))
    pids = env.server.pids_of(prefix, expected=count)
    assert len(pids) == count and len(set(pids)) == 2, f"both workers must answer: {sorted(set(pids))}"
    return results


def _rows_tagged(env: Env, prefix: str, *elsewhere: str) -> dict[str, int]:
    """Contacts and invitations whose probe tag starts with `prefix`, in any org (read as the superuser),
    in the shared database and the databases `elsewhere`."""
    with psycopg.connect(env.db.admin_url) as conn:
        contacts = conn.execute("SELECT count(*) FROM contacts WHERE first_name LIKE %s",
                                (prefix + "%",)).fetchone()
        invitations = conn.execute("SELECT count(*) FROM invitations WHERE email LIKE %s",
                                   (prefix + "%",)).fetchone()
    assert contacts is not None and invitations is not None
    for url in elsewhere:
        with psycopg.connect(url) as conn:
            placed = conn.execute("SELECT count(*) FROM contacts WHERE first_name LIKE %s", (prefix + "%",)).fetchone()
        assert placed is not None
        contacts = (contacts[0] + placed[0],)
    return {"contacts": contacts[0], "invitations": invitations[0]}


def _revoke_and_probe(env: Env, probes: list[Probe], revoke: Callable[[], None], *elsewhere: str) -> None:
    """Probes succeed on both workers, the action is answered, then not one probe succeeds and nothing is written."""
    for probe, status, tag in _burst(env, probes, "before", count=PROBES_BEFORE):
        assert status == probe.before, (tag, probe.method, probe.path, status)
    revoke()
    results = _burst(env, probes, "after", count=PROBES_AFTER)
    wrong = [(tag, p.method, p.path, status) for p, status, tag in results if status != p.after]
    assert wrong == [], f"{len(wrong)} of {PROBES_AFTER} requests were answered as before the revocation"
    assert _rows_tagged(env, "after-", *elsewhere) == {"contacts": 0, "invitations": 0}


# ----- the revoking actions -----

def _sign_out(env: Env) -> tuple[list[Probe], Callable[[], None]]:
    org = _org(env, roles=("member",))
    token = org.tokens["member"]
    probes = [Probe("GET", "/api/auth/list-sessions", token), Probe("GET", "/api/v1/contacts?limit=1", token),
              Probe("POST", "/api/v1/contacts", token, _contact, before=201)]
    return probes, lambda: _ok(env, "POST", "/api/auth/sign-out", token=token)


def _set_active(env: Env) -> tuple[list[Probe], Callable[[], None]]:
    org = _org(env, roles=("member",))
    token = org.tokens["member"]
    probes = [Probe("GET", "/api/auth/list-sessions", token), Probe("GET", "/api/v1/contacts?limit=1", token),
              Probe("POST", "/api/v1/contacts", token, _contact, before=201)]

    def switch() -> None:
        fresh = _switch(env, token, org.id)  # the same org: the old token must still die
        assert env.server.call("GET", "/api/v1/contacts?limit=1", token=fresh)[0] == 200

    return probes, switch


def _remove_member(env: Env) -> tuple[list[Probe], Callable[[], None]]:
    org = _org(env, roles=("member",))
    token = org.tokens["member"]
    probes = [Probe("GET", "/api/v1/contacts?limit=1", token, after=403),
              Probe("POST", "/api/v1/contacts", token, _contact, before=201, after=403)]
    return probes, lambda: _ok(env, "POST", f"{ORG}/remove-member", token=org.tokens["owner"],
                               body={"memberIdOrEmail": org.member_ids["member"]})


def _demote(env: Env) -> tuple[list[Probe], Callable[[], None]]:
    org = _org(env, roles=("admin",))
    token = org.tokens["admin"]
    probes = [Probe("GET", f"{ORG}/list-invitations", token, after=403),
              Probe("POST", f"{ORG}/invite-member", token, _invite, after=403),
              Probe("GET", "/api/v1/contacts?limit=1", token, after=200)]  # still a member: only the role went
    return probes, lambda: _ok(env, "POST", f"{ORG}/update-member-role", token=org.tokens["owner"],
                               body={"memberId": org.member_ids["admin"], "role": "member"})


def _leave(env: Env) -> tuple[list[Probe], Callable[[], None]]:
    org = _org(env, roles=("admin",))
    token = org.tokens["admin"]
    probes = [Probe("GET", f"{ORG}/list-members", token, after=400),  # NO_ACTIVE_ORGANIZATION, as Better Auth
              Probe("GET", "/api/v1/contacts?limit=1", token, after=403),
              Probe("POST", "/api/v1/contacts", token, _contact, before=201, after=403)]
    return probes, lambda: _ok(env, "POST", f"{ORG}/leave", token=token)


def _delete_org(env: Env) -> tuple[list[Probe], Callable[[], None]]:
    org = _org(env, roles=("member",))
    probes = [probe for role in ("owner", "member") for probe in (
        Probe("GET", "/api/v1/contacts?limit=1", org.tokens[role], after=403),
        Probe("POST", "/api/v1/contacts", org.tokens[role], _contact, before=201, after=403))]
    return probes, lambda: _ok(env, "POST", f"{ORG}/delete", token=org.tokens["owner"])


def _api_key(env: Env, org: Org, creator: str) -> dict:
    created = env.server.call("POST", "/api/v1/admin/api-keys", token=org.tokens[creator],
                              body={"name": "machine", "role": "member"})
    assert created[0] == 201, created
    return created[2]


def _key_probes(key: str) -> list[Probe]:
    """A key that stops is refused outright (401), whatever stopped it."""
    return [Probe("GET", "/api/v1/conversations", key), Probe("GET", "/api/v1/contacts?limit=1", key),
            Probe("POST", "/api/v1/contacts", key, _contact, before=201)]


def _revoke_api_key(env: Env) -> tuple[list[Probe], Callable[[], None]]:
    org = _org(env, roles=("admin",))
    key = _api_key(env, org, "admin")
    return _key_probes(key["key"]), lambda: _ok(env, "DELETE", f"/api/v1/admin/api-keys/{key['id']}",
                                                token=org.tokens["owner"])


def _remove_key_creator(env: Env) -> tuple[list[Probe], Callable[[], None]]:
    org = _org(env, roles=("admin",))
    key = _api_key(env, org, "admin")
    return _key_probes(key["key"]), lambda: _ok(env, "POST", f"{ORG}/remove-member", token=org.tokens["owner"],
                                                body={"memberIdOrEmail": org.member_ids["admin"]})


ACTIONS = {"sign-out": _sign_out, "set-active": _set_active, "remove-member": _remove_member,
           "update-member-role demotion": _demote, "leave": _leave, "org delete": _delete_org,
           "API key revoked": _revoke_api_key, "API key's creator removed": _remove_key_creator}


@pytest.mark.parametrize("action", ACTIONS.values(), ids=ACTIONS.keys())
def test_after_a_revoking_action_no_worker_accepts_the_old_token_or_role(env, action):
    probes, revoke = action(env)
    _revoke_and_probe(env, probes, revoke)


@pytest.fixture(scope="module")
def dedicated(db_factory: databases.DatabaseFactory) -> Iterator[databases.TestDatabase]:
    db = db_factory.empty()
    yield db
    db_factory.drop(db.name)


IN_A_DEDICATED_DATABASE = ("API key revoked", "API key's creator removed", "remove-member",
                           "update-member-role demotion")


@pytest.mark.parametrize("name", IN_A_DEDICATED_DATABASE)
def test_for_an_org_in_a_dedicated_database_no_worker_accepts_the_old_token_or_role(env, dedicated, name):
    """The org the action built is moved to a database of its own before the probes (issue 24 item 1)."""
    probes, revoke = ACTIONS[name](env)
    with psycopg.connect(env.db.admin_url) as conn:
        newest = conn.execute("SELECT id FROM organizations ORDER BY created_at DESC LIMIT 1").fetchone()
    assert newest is not None
    moved = atlas(env.db, "org", "move", str(newest[0]), "--to", dedicated.admin_url)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    time.sleep(CACHE_S * 2 + 0.1)
    _revoke_and_probe(env, probes, revoke, dedicated.admin_url)


# ----- set-active mints a session only by consuming a live one -----

def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _sessions(env: Env, email: str) -> tuple[int, set[str]]:
    """(all session rows, hashes of the live ones) of the user with `email`."""
    with psycopg.connect(env.db.admin_url) as conn:
        rows = conn.execute(
            "SELECT s.token_hash, s.revoked_at IS NULL AND s.expires_at > now() FROM sessions s"
            " JOIN users u ON u.id = s.user_id WHERE u.email = %s", (email,)).fetchall()
    return len(rows), {token_hash for token_hash, live in rows if live}


def _signed_out(env: Env, token: str, org: Org) -> None:
    _ok(env, "POST", "/api/auth/sign-out", token=token)


def _switched_away(env: Env, token: str, org: Org) -> None:
    _switch(env, token, org.id)


def _expired(env: Env, token: str, org: Org) -> None:
    with psycopg.connect(env.db.admin_url) as conn:
        conn.execute("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE token_hash = %s",
                     (_hash(token),))


ENDINGS = {"signed out": _signed_out, "switched away": _switched_away, "expired": _expired}


@pytest.mark.parametrize("end", ENDINGS.values(), ids=ENDINGS.keys())
def test_set_active_with_a_revoked_token_is_refused_and_mints_nothing(env, end):
    org = _org(env, roles=("member",))
    token, email = org.tokens["member"], org.emails["member"]
    for _, status, tag in _burst(env, [Probe("GET", "/api/auth/list-sessions", token)], "before", count=PROBES_BEFORE):
        assert status == 200, tag  # both workers have seen the token live
    end(env, token, org)
    before = _sessions(env, email)
    for _ in range(10):
        status, headers, body = env.server.call("POST", f"{ORG}/set-active", token=token,
                                                body={"organizationId": org.id})
        assert status == 401 and "set-auth-token" not in headers, body
    assert _sessions(env, email) == before


def test_of_parallel_switches_with_one_token_exactly_one_succeeds(env):
    org = _org(env, roles=("member",))
    token, email = org.tokens["member"], org.emails["member"]
    # Sessions minted elsewhere (accept-invitation hands one over and leaves the presented one live) stay as they are.
    others = _sessions(env, email)[1] - {_hash(token)}
    for _ in range(4):
        gate = threading.Barrier(8)

        def switch(old: str, gate: threading.Barrier = gate) -> tuple[int, str | None]:
            gate.wait()  # all eight leave together
            status, headers, _body = env.server.call("POST", f"{ORG}/set-active", token=old,
                                                     body={"organizationId": org.id})
            return status, headers.get("set-auth-token")

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(switch, [token] * 8))
        winners = [new for status, new in results if status == 200]
        assert sorted(status for status, _ in results) == [200] + [401] * 7
        assert _sessions(env, email)[1] == others | {_hash(winners[0])}  # of this token's line, only the winner
        token = winners[0]
