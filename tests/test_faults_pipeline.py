"""An error in the middle of a pipeline never leaves a connection that fails the next org (issue 24, item 12).

Org A's requests fail mid-pipeline on every hot path (the fused session read, CRM read,
CRM create on app/db/wire.py, CRM update and the agent query on psycopg's pipeline), by each
fault the issue names: a lock timeout, a statement timeout, a cancel, a terminated backend,
a client-side deadline and a serialization failure. Then org B sends 200 requests over the
same paths and every one must succeed, and A's own next requests too. The lock-based faults
fail a Parse or Bind (where the record of prepared statements went wrong); the serialization
failure is raised at Execute by a restrictive policy that only org A trips.
"""
from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from flask import Flask

from app.devdb import databases
from app.http.context import services
from tests.support.api import ApiUser, close_app, create_org, make_app, sign_up
from tests.support.serving import atlas_serve, request

CONTACTS_YAML = "table: contacts\ndimensions:\n  - name: first_name\n    sql: first_name\n    type: string\n"
PER_ORG = {"pool": {"mode": "dedicated", "timeoutMs": 5000, "base": {"minConnections": 1, "maxConnections": 3},
                    "perOrg": {"maxConnections": 2, "maxOrgs": 8, "warmupProbes": 1}}}
# A restrictive policy that only the org named in fault.flags trips: a server-side error at Execute.
FAULT_SQL = """
CREATE SCHEMA fault;
CREATE TABLE fault.flags (org_id uuid PRIMARY KEY, sqlstate text NOT NULL);
CREATE FUNCTION fault.check() RETURNS boolean LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog AS $$
DECLARE state text;
BEGIN
  SELECT f.sqlstate INTO state FROM fault.flags f WHERE f.org_id::text = current_setting('app.org_id', true);
  IF state IS NOT NULL THEN
    RAISE EXCEPTION 'injected fault %', state USING ERRCODE = state;
  END IF;
  RETURN true;
END $$;
GRANT USAGE ON SCHEMA fault TO PUBLIC;
GRANT EXECUTE ON FUNCTION fault.check() TO PUBLIC;
CREATE POLICY "Fault injection" ON contacts AS RESTRICTIVE FOR ALL
  USING ((SELECT fault.check())) WITH CHECK ((SELECT fault.check()));
"""


@pytest.fixture(scope="module")
def fault_db(db_factory) -> Iterator[databases.TestDatabase]:
    db = db_factory.clone()
    with psycopg.connect(db.admin_url, autocommit=True) as conn:
        conn.execute(FAULT_SQL)
    yield db
    db_factory.drop(db.name)


class World:
    """An app with orgs A (the one that fails) and B, each with a contact and a semantic entity."""

    def __init__(self, db: databases.TestDatabase, pools: str, **config: Any) -> None:
        self.db = db
        self.app: Flask = make_app(db, cache_backend="none", **({"pools": PER_ORG} if pools == "per-org" else {}),
                                   **config)
        self.a, self.b = self._org("a"), self._org("b")
        self.contact = {user.email: self._contact(user) for user in (self.a, self.b)}

    def _org(self, name: str) -> ApiUser:
        user = sign_up(self.app, f"{name}-{uuid.uuid4().hex[:8]}@pipeline.test")
        create_org(user, name.upper(), f"{name}-{uuid.uuid4().hex[:8]}")
        r = user.put("/api/v1/admin/semantic/org/entities/contacts", json={"yamlContent": CONTACTS_YAML})
        assert r.status_code in (200, 201), r.get_json()
        r = user.patch("/api/v1/settings", json={"queryStatementTimeoutMs": 400})  # the agent's own timeout
        assert r.status_code == 200, r.get_json()
        return user

    def _contact(self, user: ApiUser) -> str:
        r = user.post("/api/v1/contacts", json={"first_name": "Seed"})
        assert r.status_code == 201, r.get_json()
        return str(r.get_json()["id"])

    def hot_paths(self, user: ApiUser, *, clone: bool = False) -> list[tuple[str, Callable[[], Any]]]:
        """(name, request) for every hot path as `user`; with clone, each on a test client of its own
        (a Flask test client is not shared across threads)."""
        contact = self.contact[user.email]

        def who() -> ApiUser:
            if not clone:
                return user
            return ApiUser(client=self.app.test_client(), token=user.token, user_id=user.user_id,
                           email=user.email, org_id=user.org_id)

        u1, u2, u3, u4, u5 = who(), who(), who(), who(), who()
        return [
            ("session read", lambda: u1.get("/api/v1/contacts?limit=5")),
            ("crm read", lambda: u2.get(f"/api/v1/contacts/{contact}")),
            ("crm create", lambda: u3.post("/api/v1/contacts", json={"first_name": "W"})),
            ("crm update", lambda: u4.patch(f"/api/v1/contacts/{contact}", json={"last_name": "U"})),
            ("agent query", lambda: u5.post("/api/v1/query", json={"sql": "SELECT count(*) FROM contacts"})),
        ]

    def close(self) -> None:
        close_app(self.app)


def _waiting_on_contacts(admin: psycopg.Connection) -> list[int]:
    return [r[0] for r in admin.execute(
        "SELECT pid FROM pg_locks WHERE NOT granted AND relation = 'contacts'::regclass").fetchall()]


def _fail_a_on_every_path(world: World, fault: str) -> Counter:
    """Run A's requests on every hot path while `fault` hits them mid-pipeline; their statuses."""
    statuses: Counter = Counter()
    lock = threading.Lock()

    def run(request: Callable[[], Any], name: str) -> None:
        r = request()
        with lock:
            statuses[(name, r.status_code)] += 1

    with psycopg.connect(world.db.admin_url, autocommit=True) as admin:
        if fault == "serialization":
            admin.execute("INSERT INTO fault.flags VALUES (%s, '40001')", [world.a.org_id])
            try:
                for name, request in world.hot_paths(world.a):
                    run(request, name)
            finally:
                admin.execute("DELETE FROM fault.flags")
            return statuses
        with psycopg.connect(world.db.admin_url) as holder:
            holder.execute("LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE")
            threads = [threading.Thread(target=run, args=(request, name))
                       for name, request in world.hot_paths(world.a, clone=True)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 30
            while any(t.is_alive() for t in threads):  # each request waits for the lock, then is stopped
                assert time.monotonic() < deadline, f"A's requests are still waiting: {dict(statuses)}"
                if fault in ("cancel", "terminate"):
                    for pid in _waiting_on_contacts(admin):
                        admin.execute(f"SELECT pg_{fault}_backend(%s)", [pid])
                time.sleep(0.05)
            holder.rollback()
    return statuses


# fault -> the app's settings that make it happen (ms; 0 turns a server timeout off)
FAULTS: dict[str, dict[str, Any]] = {
    "lock_timeout": {"app_lock_timeout_ms": 300},
    "statement_timeout": {"app_lock_timeout_ms": 0, "app_statement_timeout_ms": 300},
    "cancel": {"app_lock_timeout_ms": 0, "app_statement_timeout_ms": 0},
    "terminate": {"app_lock_timeout_ms": 0, "app_statement_timeout_ms": 0},
    "client_deadline": {"app_lock_timeout_ms": 0, "app_statement_timeout_ms": 3000},  # wire waits 0.5 s
    "serialization": {},
}


@pytest.mark.parametrize("pools", ["shared", "per-org"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_after_a_mid_pipeline_error_every_other_request_succeeds(fault_db, monkeypatch, fault: str,
                                                                  pools: str) -> None:
    world = World(fault_db, pools, pool_max_size=3, **FAULTS[fault])
    try:
        if fault == "client_deadline":
            door = services(world.app).db  # its wire settings are built by create_app: patched after it
            monkeypatch.setattr(door, "wire", dataclasses.replace(door.wire, timeout_s=0.5))
        failed = _fail_a_on_every_path(world, fault)
        door = services(world.app).db
        monkeypatch.setattr(door, "wire", dataclasses.replace(door.wire, timeout_s=30.0))
        answers: Counter = Counter()
        paths = world.hot_paths(world.b)
        for i in range(200):
            name, request = paths[i % len(paths)]
            r = request()
            answers[(name, r.status_code)] += 1
            assert r.status_code < 300, (fault, name, r.status_code, r.get_json(), dict(answers))
        for name, request in world.hot_paths(world.a):  # A itself recovers as well
            r = request()
            assert r.status_code < 300, (fault, "org A", name, r.status_code, r.get_json())
    finally:
        world.close()
    print(f"\n[{fault}, {pools}] A during the fault: {dict(failed)}; B: {dict(answers)}")
    assert not [key for key in failed if key[1] >= 500 and key[1] != 503], failed  # a fault is no 500
    if fault == "serialization":  # a conflict to retry, not "the database is unavailable"
        assert {status for (name, status) in failed if name != "agent query"} == {409}, failed


# ----- the reproduction, over HTTP against `atlas serve` ---------------------------------
def _signed_in_org(port: int, name: str) -> str:
    """Sign up, create an org, sign in again (a session bound to it); its bearer token."""
    account = {"email": f"{name}-{uuid.uuid4().hex[:8]}@pipeline.test", "password": "long enough", "name": name}
    status, _, body = request(port, "POST", "/api/auth/sign-up/email", account)
    assert status == 200, body
    status, _, body = request(port, "POST", "/api/auth/organization/create",
                              {"name": name, "slug": f"{name}-{uuid.uuid4().hex[:8]}"}, body["token"])
    assert status == 200, body
    status, _, body = request(port, "POST", "/api/auth/sign-in/email",
                              {"email": account["email"], "password": account["password"]})
    assert status == 200, body
    return str(body["token"])


def _burst(port: int, token: str, n: int) -> Counter:
    """n note writes, n contact writes and n contact reads, 8 at a time; (what, status) counted."""
    calls = [("note write", "POST", "/api/v1/notes", {"body": "n"}),
             ("contact write", "POST", "/api/v1/contacts", {"first_name": "c"}),
             ("contact read", "GET", "/api/v1/contacts?limit=5", None)] * n
    seen: Counter = Counter()
    lock = threading.Lock()

    def run(chunk: list[tuple[str, str, str, Any]]) -> None:
        for what, method, path, body in chunk:
            status = request(port, method, path, body, token)[0]
            with lock:
                seen[(what, status)] += 1

    threads = [threading.Thread(target=run, args=(calls[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return seen


@pytest.mark.parametrize("per_org", ["off", "on"])
def test_after_one_orgs_lock_timeouts_no_request_of_any_org_answers_500(fault_db, tmp_path, per_org: str) -> None:
    """Issue 24 item 12, as filed: a superuser holds ACCESS EXCLUSIVE on notes, 8 of A's note
    writes answer 409 lock_timeout; after the release, no request of B or A answers 500 at once or
    later. The poison was per connection and did not fade with time (90 s in the issue): the
    later round here runs after every pooled connection has served several requests again."""
    env = {"ATLAS_APP_LOCK_TIMEOUT_MS": "300", "ATLAS_POOL_PER_ORG": per_org, "ATLAS_POOL_MAX_SIZE": "4",
           "ATLAS_CACHE_BACKEND": "none"}
    with atlas_serve(fault_db, tmp_path / "serve.log", workers=2, threads=4, env=env) as server:
        port = server.port
        token_a, token_b = _signed_in_org(port, "a"), _signed_in_org(port, "b")
        _burst(port, token_a, 3)  # every worker's connections have prepared their statements
        _burst(port, token_b, 3)
        with psycopg.connect(fault_db.admin_url) as holder:
            holder.execute("LOCK TABLE notes IN ACCESS EXCLUSIVE MODE")
            blocked: Counter = Counter()
            writers = [threading.Thread(target=lambda: blocked.update(
                [request(port, "POST", "/api/v1/notes", {"body": "blocked"}, token_a)[0]])) for _ in range(8)]
            for t in writers:
                t.start()
            for t in writers:
                t.join(timeout=60)
            holder.rollback()
        rounds = []
        for pause_s in (1.0, 3.0):
            time.sleep(pause_s)
            rounds.append((_burst(port, token_b, 20), _burst(port, token_a, 10)))
    print(f"\n[per-org pools {per_org}] A's blocked writes: {dict(blocked)}")
    for i, (b, a) in enumerate(rounds):
        print(f"  round {i + 1}: B {dict(b)}; A {dict(a)}")
    assert blocked == Counter({409: 8}), blocked
    for b, a in rounds:
        assert {status for _, status in b} <= {200, 201}, b
        assert {status for _, status in a} <= {200, 201}, a


# ----- issue 24 item 13: one org's blocked writes do not hold another org's reads -----------------------
def test_with_per_org_pools_a_blocked_orgs_writes_leave_threads_for_another_orgs_reads(fault_db, tmp_path) -> None:
    """One worker of 4 threads, 1 connection per org: 6 of A's writes wait for a lock on notes (3 s).
    Before pool.perOrg.maxWaiting, A's writes queued for A's one connection on every thread and B's
    reads waited seconds for a thread; now A's surplus is refused at once and B reads as usual."""
    env = {"ATLAS_APP_LOCK_TIMEOUT_MS": "3000", "ATLAS_POOL_PER_ORG": "on",
           "ATLAS_POOL_PER_ORG_MAX_CONNECTIONS": "1", "ATLAS_CACHE_BACKEND": "none"}
    with atlas_serve(fault_db, tmp_path / "serve.log", workers=1, threads=4, env=env) as server:
        port = server.port
        token_a, token_b = _signed_in_org(port, "a"), _signed_in_org(port, "b")
        request(port, "POST", "/api/v1/notes", {"body": "warm"}, token_a)
        request(port, "GET", "/api/v1/contacts?limit=1", token=token_b)
        a_seen: Counter = Counter()
        b_took: list[float] = []
        with psycopg.connect(fault_db.admin_url) as holder:
            holder.execute("LOCK TABLE notes IN ACCESS EXCLUSIVE MODE")
            writers = [threading.Thread(target=lambda: a_seen.update(
                [request(port, "POST", "/api/v1/notes", {"body": "blocked"}, token_a, timeout_s=60)[0]]))
                for _ in range(6)]
            for t in writers:
                t.start()
            time.sleep(0.5)  # A's writes have taken what they can
            for _ in range(10):
                status, _, _, took = request(port, "GET", "/api/v1/contacts?limit=1", token=token_b, timed=True)
                assert status == 200
                b_took.append(took)
            holder.rollback()
            for t in writers:
                t.join(timeout=60)
    print(f"\n[per-org pools, 1 connection] A's blocked writes {dict(a_seen)}; B's reads took"
          f" {', '.join(f'{s:.2f}' for s in b_took)} s")
    assert max(b_took) < 1.5, b_took  # the lock timeout is 3 s: a read that waited for A's threads takes longer
    assert set(a_seen) <= {409, 503, 201}, a_seen
