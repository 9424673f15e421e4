"""Database faults: restarts, crashes and killed backends during writes, and SIGTERM to atlas serve.

Each test runs against a PostgreSQL cluster this module starts itself
(app/devdb/server.py's Cluster) and restarts or kills at will, on a database of
its own. What each measures is printed (run with -s): writes answered 2xx and
lost (must be 0), the statuses seen during the outage, the time to recover.
"""
from __future__ import annotations

import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from flask import Flask

from app.devdb import databases
from app.devdb.databases import DatabaseFactory
from app.devdb.server import Cluster
from tests.support.api import ApiUser, close_app, create_org, make_app, sign_up
from tests.support.errors import error_of
from tests.support.serving import atlas_serve, request

POOL_TIMEOUT_S = 2.0
DEDICATED = {"pool": {"mode": "dedicated", "timeoutMs": int(POOL_TIMEOUT_S * 1000),
                      "base": {"minConnections": 2, "maxConnections": 4},
                      "perOrg": {"maxConnections": 4, "maxOrgs": 4, "warmupProbes": 1}}}


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Cluster, DatabaseFactory]]:
    cluster = Cluster()
    cluster.start()
    factory = DatabaseFactory(cluster.server())
    factory.build_template()
    try:
        yield cluster, factory
    finally:
        try:
            cluster.start() if not _answers(cluster.admin_url) else None
            factory.drop_all()
        finally:
            cluster.remove()


@pytest.fixture
def database(cluster: tuple[Cluster, DatabaseFactory]) -> Iterator[databases.TestDatabase]:
    db = cluster[1].clone()
    yield db
    cluster[1].drop(db.name)


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _app(db: databases.TestDatabase, **overrides: Any) -> tuple[Flask, ApiUser]:
    app = make_app(db, pool_timeout_s=POOL_TIMEOUT_S, pool_min_size=3, pool_max_size=6, cache_backend="none",
                   **overrides)
    owner = sign_up(app, f"owner-{uuid.uuid4().hex[:6]}@faults.test")
    create_org(owner, "Faults", f"faults-{uuid.uuid4().hex[:6]}")
    return app, owner


def _post(client: Any, user: ApiUser, path: str, body: Any, key: str | None = None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {user.token}"}
    if key:
        headers["Idempotency-Key"] = key
    return client.post(path, json=body, headers=headers)


# ----- writers that retry with the same key ------------------------------------------------------
@dataclass
class Writes:
    """What the writers saw: every answer with its time, and which keys were acknowledged."""

    answers: list[tuple[float, float, int, bool, bool]] = field(default_factory=list)  # sent, done, status, RA, replay
    acknowledged: dict[str, str] = field(default_factory=dict)  # key -> contact id
    keys: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def statuses(self, since: float = 0.0, until: float = float("inf")) -> Counter:
        return Counter(s for sent, done, s, _, _ in self.answers if done >= since and sent <= until)


def _writer(app: Flask, user: ApiUser, writes: Writes, stop: threading.Event) -> None:
    client = app.test_client()
    while not stop.is_set():
        key = f"w-{uuid.uuid4()}"
        with writes.lock:
            writes.keys.add(key)
        while True:  # retry this key until it is acknowledged: that is what a careful client does
            sent = time.monotonic()
            r = _post(client, user, "/api/v1/contacts", {"first_name": "W", "email": f"{key}@faults.test"}, key)
            done = time.monotonic()
            with writes.lock:
                writes.answers.append((sent, done, r.status_code, "Retry-After" in r.headers,
                                       "Idempotent-Replayed" in r.headers))
                if r.status_code == 201:
                    writes.acknowledged[key] = r.get_json()["id"]
            if r.status_code != 503:
                break
            time.sleep(0.05)


def _check_every_write(db: databases.TestDatabase, writes: Writes) -> dict[str, int]:
    """Exactly one row per key; every acknowledged row and its audit row are there."""
    with psycopg.connect(db.admin_url) as conn:
        rows = dict(conn.execute("SELECT email, count(*) FROM contacts WHERE email LIKE 'w-%%' GROUP BY email")
                    .fetchall())
        audited = {r[0] for r in conn.execute(
            "SELECT entity_id FROM audit_log WHERE action = 'contact.create'").fetchall()}
    lost = [k for k, cid in writes.acknowledged.items() if rows.get(f"{k}@faults.test") != 1 or cid not in audited]
    duplicated = [email for email, n in rows.items() if n != 1]
    return {"acknowledged": len(writes.acknowledged), "lost": len(lost), "duplicated": len(duplicated),
            "rows": sum(rows.values())}


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_writes_retried_with_a_key_across_a_restart_land_exactly_once(cluster, database, mode: str) -> None:
    pg, _ = cluster
    app, owner = _app(database)
    writes, stop = Writes(), threading.Event()
    writers = [threading.Thread(target=_writer, args=(app, owner, writes, stop)) for _ in range(4)]
    try:
        for t in writers:
            t.start()
        time.sleep(0.7)
        outage_start = time.monotonic()
        back = pg.restart(mode, down_s=1.0)
        deadline = back + 15
        while not any(done > back and s == 201 and sent > back for sent, done, s, _, _ in writes.answers):
            assert time.monotonic() < deadline, f"writes did not recover within 15 s: {writes.statuses()}"
            time.sleep(0.02)
        recovered = min(done for sent, done, s, _, _ in writes.answers if s == 201 and sent > back)
        time.sleep(0.5)
    finally:
        stop.set()
        for t in writers:
            t.join(timeout=30)
        close_app(app)
    outcome = _check_every_write(database, writes)
    during = writes.statuses(since=outage_start, until=recovered)
    replays = sum(1 for *_, replay in writes.answers if replay)
    latency = max(done - sent for sent, done, *_ in writes.answers)
    print(f"\n[restart -m {mode}] {outcome}; statuses during outage {dict(during)}; replayed {replays};"
          f" recovered {recovered - back:.2f} s after the database was back; slowest answer {latency:.2f} s")
    assert set(writes.statuses()) <= {201, 503}, writes.statuses()
    assert all(ra for _, _, s, ra, _ in writes.answers if s == 503), "a 503 without Retry-After"
    assert outcome["lost"] == 0 and outcome["duplicated"] == 0
    assert outcome["rows"] == len(writes.keys) == len(writes.acknowledged)
    assert latency < POOL_TIMEOUT_S + 3.0, "an answer took far longer than the pool timeout"


# ----- no dead connection is lent after a restart ----------------------------------------------
def _fault(pg: Cluster, db: databases.TestDatabase, fault: str) -> None:
    if fault == "kill_backends":
        assert pg.kill_backends(db.name) > 0
    else:
        pg.restart(fault)


def _warm(app: Flask, user: ApiUser) -> None:
    """Several connections in use at once, so the pools hold several idle ones afterwards."""
    threads = [threading.Thread(target=lambda: _post(app.test_client(), user, "/api/v1/contacts",
                                                     {"first_name": "warm"})) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@pytest.mark.parametrize("fault", ["fast", "immediate", "kill_backends"])
@pytest.mark.parametrize("pools", ["shared", "dedicated"])
def test_the_first_request_after_the_database_restarts_succeeds(cluster, database, fault: str, pools: str) -> None:
    pg, _ = cluster
    app, owner = _app(database, **({"pools": DEDICATED} if pools == "dedicated" else {}))
    try:
        r = owner.put("/api/v1/admin/semantic/org/entities/contacts",
                      json={"yamlContent": "table: contacts\ndimensions:\n  - name: first_name\n"
                                           "    sql: first_name\n    type: string\n"})
        assert r.status_code in (200, 201), r.get_json()
        _warm(app, owner)
        assert owner.post("/api/v1/query", json={"sql": "SELECT count(*) FROM contacts"}).status_code == 200
        _fault(pg, database, fault)
        started = time.monotonic()
        first = owner.post("/api/v1/contacts", json={"first_name": "after"})
        took = time.monotonic() - started
        query = owner.post("/api/v1/query", json={"sql": "SELECT first_name FROM contacts LIMIT 1"})
        listed = owner.get("/api/v1/contacts")
    finally:
        close_app(app)
    print(f"\n[{pools}, {fault}] first write after the fault: {first.status_code} in {took:.2f} s;"
          f" agent query {query.status_code}; read {listed.status_code}")
    assert first.status_code == 201, first.get_json()
    assert query.status_code == 200, query.get_json()
    assert listed.status_code == 200, listed.get_json()


# ----- the outage message names the database ----------------------------------------------------
@pytest.mark.parametrize("pools", ["shared", "dedicated"])
def test_while_the_database_is_down_503s_say_so_and_name_no_pool_setting(cluster, database, pools: str) -> None:
    pg, _ = cluster
    app, owner = _app(database, **({"pools": DEDICATED} if pools == "dedicated" else {}))
    answers = []
    try:
        _warm(app, owner)
        pg.stop("fast")
        try:
            for path, body in (("/api/v1/contacts", {"first_name": "down"}), ("/api/v1/contacts", None),
                               ("/api/v1/query", {"sql": "SELECT 1"})):
                started = time.monotonic()
                r = owner.post(path, json=body) if body is not None else owner.get(path)
                answers.append((path, r.status_code, r.headers.get("Retry-After"), error_of(r),
                                time.monotonic() - started))
        finally:
            back = pg.start()
        first = owner.post("/api/v1/contacts", json={"first_name": "back"})
        recovered = time.monotonic() - back
    finally:
        close_app(app)
    for path, status, retry_after, error, took in answers:
        print(f"\n[{pools}, database down] {path}: {status} {error['code']} after {took:.2f} s: {error['message']}")
        assert status == 503 and retry_after is not None
        assert "database" in error["message"]
        assert not any(hint in error["message"] for hint in ("maxTotalConnections", "MAX_SIZE", "raise "))
        assert took < POOL_TIMEOUT_S + 3.0
    assert first.status_code == 201, first.get_json()
    print(f"[{pools}] first write after the database came back: {first.status_code} ({recovered:.2f} s)")


# ----- SIGTERM to atlas serve during writes --------------------------------------------------------
def _http(port: int, method: str, path: str, body: Any = None, headers: dict | None = None):  # type: ignore[no-untyped-def]
    """-> (status, body), on a connection closed after the answer."""
    status, _, answer = request(port, method, path, body, timeout_s=30, headers={"Connection": "close", **(headers or {})})
    return status, answer


def test_sigterm_to_atlas_serve_finishes_writes_in_flight_and_loses_none(database, tmp_path) -> None:
    env = {"ATLAS_APP_LOCK_TIMEOUT_MS": "60000"}  # the test holds a table lock while writes wait
    log = tmp_path / "serve.log"
    sign_up = {"email": "term@faults.test", "password": "long enough", "name": "T"}
    with atlas_serve(database, log, workers=2, threads=4, env=env,
                     probe=lambda port: _http(port, "POST", "/api/auth/sign-up/email", sign_up)) as server:
        port = server.port
        _, body = server.first_answer
        auth = {"Authorization": f"Bearer {body['token']}"}
        assert _http(port, "POST", "/api/auth/organization/create", {"name": "T", "slug": "term"}, auth)[0] == 200
        _, body = _http(port, "POST", "/api/auth/sign-in/email",  # a session bound to the new org
                        {"email": "term@faults.test", "password": "long enough"})
        auth = {"Authorization": f"Bearer {body['token']}"}
        acknowledged: dict[str, str] = {}
        outcomes: Counter = Counter()
        lock = threading.Lock()

        def write(key: str) -> None:
            try:
                status, answer = _http(port, "POST", "/api/v1/contacts",
                                       {"first_name": "T", "email": f"{key}@faults.test"},
                                       {**auth, "Idempotency-Key": key})
            except OSError as exc:
                with lock:
                    outcomes[type(exc).__name__] += 1
                return
            with lock:
                outcomes[status] += 1
                if status == 201:
                    acknowledged[key] = answer["id"]

        with psycopg.connect(database.admin_url) as blocker:
            blocker.execute("LOCK TABLE contacts IN EXCLUSIVE MODE")  # writes now wait inside their transaction
            in_flight = [threading.Thread(target=write, args=(f"t-{uuid.uuid4()}",)) for _ in range(6)]
            for t in in_flight:
                t.start()
            _wait_for_waiters(database.admin_url, 2)  # the rest wait for one of the org's connections
            server.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            late = [threading.Thread(target=write, args=(f"t-{uuid.uuid4()}",)) for _ in range(3)]
            for t in late:
                t.start()
            blocker.rollback()  # the in-flight writes go on and commit
            for t in [*in_flight, *late]:
                t.join(timeout=30)
        assert server.process.wait(timeout=40) == 0, log.read_text()
    with psycopg.connect(database.admin_url) as conn:
        rows = {r[0]: r[1] for r in conn.execute("SELECT email, id::text FROM contacts").fetchall()}
        audited = {r[0] for r in conn.execute("SELECT entity_id FROM audit_log WHERE action = 'contact.create'")}
    lost = [k for k, cid in acknowledged.items() if rows.get(f"{k}@faults.test") != cid or cid not in audited]
    print(f"\n[SIGTERM] answers {dict(outcomes)}; acknowledged {len(acknowledged)}; lost {len(lost)}")
    assert len(acknowledged) >= 6, outcomes  # every write in flight at SIGTERM was finished and answered
    assert not lost


def _wait_for_waiters(admin_url: str, n: int) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for _ in range(500):
            if conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted"
                            " AND relation = 'contacts'::regclass").fetchone()[0] >= n:  # type: ignore[index]
                return
            time.sleep(0.02)
    raise AssertionError(f"{n} writes never reached their INSERT")


# ----- recovery starts as soon as the database answers (issue 24 item 14) ---------------------------
OUTAGE_S = 9.0  # long enough for psycopg_pool's doubling back-off (1, 2, 4, 8 s) to wait past readiness


@pytest.mark.parametrize("pools", ["shared", "dedicated"])
def test_after_an_outage_the_first_write_succeeds_within_about_a_second_of_readiness(cluster, database,
                                                                                     pools: str) -> None:
    """Writers keep retrying through a 9 s outage; the first 201 must come within about 1 s of the
    database being ready again, and no request waiting at that moment may wait much longer."""
    pg, _ = cluster
    app, owner = _app(database, **({"pools": DEDICATED} if pools == "dedicated" else {}))
    writes, stop = Writes(), threading.Event()
    writers = [threading.Thread(target=_writer, args=(app, owner, writes, stop)) for _ in range(4)]
    try:
        _warm(app, owner)
        for t in writers:
            t.start()
        time.sleep(0.3)
        pg.stop("fast")
        time.sleep(OUTAGE_S)
        back = pg.start()
        deadline = back + 20
        while not any(s == 201 and done > back for _, done, s, _, _ in writes.answers):
            assert time.monotonic() < deadline, f"no write succeeded within 20 s: {writes.statuses(since=back)}"
            time.sleep(0.02)
        time.sleep(0.3)
    finally:
        stop.set()
        for t in writers:
            t.join(timeout=30)
        close_app(app)
    first = min(done for _, done, s, _, _ in writes.answers if s == 201 and done > back) - back
    straddling = [done - back for sent, done, *_ in writes.answers if sent < back < done]
    print(f"\n[{pools}, {OUTAGE_S:g} s outage] first 201 {first:.2f} s after the database was ready;"
          f" requests in flight at readiness answered {', '.join(f'{s:.2f}' for s in straddling)} s after it")
    assert first < 1.5, f"the first write succeeded {first:.2f} s after the database was ready"
    assert all(s < 2.5 for s in straddling), straddling
