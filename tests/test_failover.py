"""Failover: lose the primary (or switch over on purpose) under writes, lose no acknowledged write.

One pg_auto_failover formation per module (tests/support/ha.py: a monitor, a primary and a
synchronous secondary) holds Atlas's database; one real `atlas serve` runs on it for the whole
module with the multi-host DATABASE_URL (`postgresql://a,b/db?target_session_attrs=read-write`)
and is never restarted: it goes through the planned switchover and then the loss of the primary.
Writers of several orgs POST contacts with an Idempotency-Key the whole time. What each test
measures is printed (run with -s): answers by status, acknowledged, ambiguous and lost writes,
and how long writes stopped.
"""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import psycopg
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from app.config import RoleNames
from app.db.migrate import migrate
from app.devdb import databases
from app.devdb.ports import free_port
from tests.support import ha
from tests.support.api import close_app, make_app
from tests.support.ha import Formation
from tests.support.jobs import atlas_worker
from tests.support.mcp_server import wait_listening
from tests.support.serving import ATLAS, ROOT, atlas_serve, owner_of_new_org, request

ORGS = 3
WRITERS_PER_ORG = 2
# What a refusal during a failover may say: the database is away, read-only, or did not answer in time.
OUTAGE_CODES = {"database_unavailable", "database_read_only", "database_timeout"}
RESUME_TARGET_S = 15.0  # issue 28: writes resume within this after the primary is lost
ROLE_PREFIX = "atlas_ha"
SERVE_ENV = {"ATLAS_POOL_TIMEOUT_S": "2", "ATLAS_ARGON2_TIME_COST": "1", "ATLAS_ARGON2_MEMORY_KIB": "1024",
             "ATLAS_ARGON2_PARALLELISM": "1", "ATLAS_CACHE_BACKEND": "none"}
ENTITY = "table: contacts\ndimensions:\n  - name: first_name\n    sql: first_name\n    type: string\n"


@dataclass
class Served:
    formation: Formation
    port: int  # atlas serve
    mcp_port: int  # atlas mcp --http
    tokens: list[str]  # one owner per org, each bound to its org
    database: databases.TestDatabase


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The formation, and on its multi-host URL `atlas serve`, `atlas worker` and `atlas mcp --http`, each
    started once for the module: what they do after a failover, they do without a restart."""
    reason = ha.unavailable()
    if reason:
        pytest.skip(reason)
    formation = Formation()
    formation.start()
    try:
        roles = RoleNames.from_prefix(ROLE_PREFIX)
        started = time.monotonic()
        migrate(formation.url(), roles=roles)
        migrated = time.monotonic() - started
        database = databases.TestDatabase(name="atlas_ha", admin_url=formation.url(), roles=roles,
                                          app_url=formation.url(user=roles.app), agent_url=formation.url(user=roles.agent),
                                          platform_url=formation.url(user=roles.platform))
        folder = tmp_path_factory.mktemp("failover")
        env = {**SERVE_ENV, "ATLAS_SEMANTIC_ROOT": str(folder)}
        with ExitStack() as stack:
            mcp_port = _atlas_mcp(database, folder, stack)  # starting while atlas serve starts
            server = stack.enter_context(atlas_serve(database, folder / "serve.log", workers=2, threads=4, env=env))
            stack.enter_context(atlas_worker(database, folder))
            wait_listening(mcp_port, log=folder / "mcp.log")
            tokens = [owner_of_new_org(server.port, f"ha-{n}-{uuid.uuid4().hex[:6]}") for n in range(ORGS)]
            for token in tokens:
                status, _, body = request(server.port, "PUT", "/api/v1/admin/semantic/org/entities/contacts",
                                          {"yamlContent": ENTITY}, token)
                assert status in (200, 201), body
            ready = Served(formation, server.port, mcp_port, tokens, database)
            assert _surfaces(ready) == SURFACES_OK  # every process has used its connections before any fault
            print(f"\n[set-up] formation {formation.started_s:.1f} s, migrations {migrated:.1f} s, Atlas's processes,"
                  f" orgs and first answers {time.monotonic() - started - migrated:.1f} s")
            yield ready
            assert server.process.poll() is None, (folder / "serve.log").read_text()[-3000:]
    finally:
        formation.remove()


def _atlas_mcp(database: databases.TestDatabase, folder: Path, stack: ExitStack) -> int:
    """`atlas mcp --http` on the formation, started (stopped when `stack` closes); -> its port."""
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ATLAS_")}, "DATABASE_URL": database.admin_url,
           "ATLAS_ROLE_PREFIX": ROLE_PREFIX, "ATLAS_SEMANTIC_ROOT": str(folder), "PYTHONPATH": str(ROOT),
           "ATLAS_POOL_MAX_SIZE": "4", "ATLAS_POOL_TIMEOUT_S": "2"}
    log = stack.enter_context((folder / "mcp.log").open("wb"))
    server = subprocess.Popen([*ATLAS, "mcp", "--http", "--port", str(port)], env=env, cwd=ROOT, stdout=log,
                              stderr=subprocess.STDOUT)
    stack.callback(lambda: (server.terminate(), server.wait(timeout=30)))
    return port




# ----- every other way in: each process reconnects on its own ------------------------------------------
SURFACES_OK = {"read (the wire)": 200, "agent query": 200, "control plane": 200, "job (atlas worker)": "succeeded",
               "MCP executeSQL (atlas mcp --http)": "ok"}


def _surfaces(served: Served, *, within_s: float = 20.0) -> dict[str, Any]:
    """What each way in answers, retried (a 503 says retry) until it succeeds or `within_s` passes."""
    token, port = served.tokens[0], served.port
    found: dict[str, Any] = {}
    deadline = time.monotonic() + within_s

    started = time.monotonic()

    def until(name: str, attempt: Any, ok: Any) -> None:
        while True:
            found[name] = attempt()
            if found[name] == ok or time.monotonic() > deadline:
                print(f"[surfaces] {name}: {found[name]} after {time.monotonic() - started:.2f} s")
                return
            time.sleep(0.2)

    until("read (the wire)", lambda: request(port, "GET", "/api/v1/contacts?limit=1", token=token)[0], 200)
    until("agent query", lambda: request(port, "POST", "/api/v1/query", {"sql": "SELECT count(*) FROM contacts"},
                                         token=token)[0], 200)
    until("control plane", lambda: request(port, "GET", "/api/auth/organization/list-invitations",
                                           token=token)[0], 200)
    until("job (atlas worker)", lambda: _job(served), "succeeded")
    until("MCP executeSQL (atlas mcp --http)", lambda: anyio.run(_mcp_query, served), "ok")
    return found


def _job(served: Served) -> str:
    """A warm_cache job enqueued over the API and run by `atlas worker`: its final status."""
    status, _, job = request(served.port, "POST", "/api/v1/jobs", {"kind": "warm_cache", "payload": {}},
                             token=served.tokens[0])
    if status != 201:
        return f"enqueue {status}: {job}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        status, _, job = request(served.port, "GET", f"/api/v1/jobs/{job['id']}", token=served.tokens[0])
        if status == 200 and job["status"] in ("succeeded", "dead", "canceled"):
            return str(job["status"])
        time.sleep(0.1)
    return f"still {job.get('status')}"


async def _mcp_query(served: Served) -> str:
    headers = {"Authorization": f"Bearer {served.tokens[0]}"}
    try:
        async with httpx2.AsyncClient(headers=headers, timeout=30) as client, \
                streamable_http_client(f"http://127.0.0.1:{served.mcp_port}/mcp", http_client=client) as streams, \
                ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            result = await session.call_tool("executeSQL", {"sql": "SELECT count(*) FROM contacts"})
    except Exception as exc:  # any failure is reported as what was seen, and retried
        return f"failed: {type(exc).__name__}"
    if result.is_error:
        return "error: " + json.dumps(result.structured_content or result.content[0].model_dump())[:200]
    return "ok"


# ----- writers: one key per write; an ambiguous answer is kept for the exactly-once check ---------------
@dataclass
class Writes:
    answers: list[tuple[float, float, int | str, bool]] = field(default_factory=list)  # sent, done, status, RA
    acknowledged: dict[str, tuple[int, str]] = field(default_factory=dict)  # key -> (org, contact id)
    ambiguous: dict[str, tuple[int, int | str]] = field(default_factory=dict)  # key -> (org, what was seen)
    codes: Counter[str] = field(default_factory=Counter)  # the error codes of the refusals
    messages: dict[str, str] = field(default_factory=dict)  # code -> one message it came with
    lock: threading.Lock = field(default_factory=threading.Lock)

    def statuses(self) -> Counter[int | str]:
        return Counter(status for _, _, status, _ in self.answers)


def _post(port: int, token: str, key: str) -> tuple[int, Any, Any]:
    status, headers, body = request(port, "POST", "/api/v1/contacts",
                                    {"first_name": "HA", "email": f"{key}@failover.test"}, token, timeout_s=30,
                                    headers={"Connection": "close", "Idempotency-Key": key})
    return status, headers, body


def _writer(served: Served, org: int, writes: Writes, stop: threading.Event) -> None:
    token = served.tokens[org]
    while not stop.is_set():
        key = f"ha-{uuid.uuid4()}"
        sent = time.monotonic()
        try:
            status, headers, body = _post(served.port, token, key)
            outcome: int | str = status
            retry_after = headers.get("Retry-After") is not None
        except OSError as exc:  # the HTTP server stays up: none is expected, but it would be ambiguous too
            outcome, retry_after, body = type(exc).__name__, False, None
        with writes.lock:
            writes.answers.append((sent, time.monotonic(), outcome, retry_after))
            if outcome == 201:
                writes.acknowledged[key] = (org, body["id"])
            else:
                writes.ambiguous[key] = (org, outcome)
                code = str(body.get("code") if isinstance(body, dict) else outcome)
                writes.codes[code] += 1
                writes.messages.setdefault(code, str(body.get("message") if isinstance(body, dict) else body))
        if outcome != 201:
            time.sleep(0.2)


def _under_writes(served: Served, fault: Any) -> tuple[Writes, float, float]:
    """Writers of every org before, during and after `fault()`; -> (writes, fault start, fault end)."""
    writes, stop = Writes(), threading.Event()
    threads = [threading.Thread(target=_writer, args=(served, org, writes, stop))
               for org in range(ORGS) for _ in range(WRITERS_PER_ORG)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.5)
        started = time.monotonic()
        fault()
        ended = time.monotonic()
        deadline = time.monotonic() + 40
        while not any(status == 201 and sent > ended for sent, _, status, _ in writes.answers):
            assert time.monotonic() < deadline, f"no write succeeded within 40 s: {writes.statuses()}"
            time.sleep(0.05)
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    return writes, started, ended


def _rows(url: str) -> dict[str, list[str]]:
    """email key -> the ids of its contacts, on the server `url` reaches (read as the superuser, past RLS)."""
    found: dict[str, list[str]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for email, cid in conn.execute("SELECT email, id::text FROM contacts WHERE email LIKE 'ha-%%'"):
            found.setdefault(str(email).removesuffix("@failover.test"), []).append(cid)
    return found


def _check_exactly_once(served: Served, writes: Writes) -> dict[str, int]:
    """Every acknowledged write is there once with its id; each ambiguous one is there at most once, and its
    retry with the same key lands it exactly once (a replay when it was there already)."""
    rows = _rows(served.formation.url())
    lost = [key for key, (_, cid) in writes.acknowledged.items() if rows.get(key) != [cid]]
    applied = {key for key in writes.ambiguous if key in rows}
    assert all(len(rows[key]) == 1 for key in applied), "an ambiguous write was applied twice"
    replays = 0
    for key, (org, _) in writes.ambiguous.items():
        status, headers, body = _post(served.port, served.tokens[org], key)
        assert status == 201, (key, status, body)
        replayed = headers.get("Idempotent-Replayed") == "true"
        assert replayed == (key in applied), (key, replayed, key in applied)
        if replayed:
            assert rows[key] == [body["id"]]
        replays += replayed
    after = _rows(served.formation.url())
    assert all(len(after.get(key, [])) == 1 for key in writes.ambiguous), "a retried key is not there exactly once"
    return {"acknowledged": len(writes.acknowledged), "lost": len(lost), "ambiguous": len(writes.ambiguous),
            "ambiguous applied": len(applied), "replayed on retry": replays}


def _readiness(served: Served) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        status, _, body = request(served.port, "GET", "/readyz", headers={"Connection": "close"})
        if status == 200 or time.monotonic() > deadline:
            return {**body, "http": status}
        time.sleep(0.2)


def _stop_gap(writes: Writes, since: float) -> float:
    """The longest time without an acknowledged write, from `since` on (answer times)."""
    acked = sorted(done for _, done, status, _ in writes.answers if status == 201 and done >= since)
    return max((b - a for a, b in zip(acked, acked[1:], strict=False)), default=0.0)


# ----- the tests --------------------------------------------------------------------------------------
def test_a_planned_switchover_under_writes_answers_no_5xx_but_503_and_loses_nothing(served: Served) -> None:
    formation = served.formation
    formation.wait_stable()
    before = formation.primary()
    writes, started, ended = _under_writes(served, formation.switchover)
    after = formation.primary()
    outcome = _check_exactly_once(served, writes)
    ready = _readiness(served)
    surfaces = _surfaces(served)
    print(f"\n[switchover {before.name} -> {after.name}] refusals {writes.messages}; took {ended - started:.2f} s; answers {dict(writes.statuses())}"
          f" {dict(writes.codes)}; {outcome}; longest stop of acknowledged writes {_stop_gap(writes, started - 1):.2f} s; readyz {ready}")
    assert after.name != before.name
    assert set(writes.statuses()) <= {201, 503}, writes.statuses()
    assert all(ra for _, _, status, ra in writes.answers if status == 503), "a 503 without Retry-After"
    assert set(writes.codes) <= OUTAGE_CODES, writes.messages
    assert outcome["lost"] == 0
    assert ready["http"] == 200 and ready["checks"]["database"]["primary"] == after.address, ready
    assert surfaces == SURFACES_OK


def test_a_write_that_reaches_a_standby_is_a_503_naming_the_fix_and_readiness_fails(served: Served) -> None:
    """An app whose URL lets it reach a standby (here: the standby's address alone) reads, but each write is
    a 503 database_read_only with Retry-After (never a 500), and /readyz says why."""
    formation = served.formation
    formation.wait_stable()
    standby = next(node for node in formation.nodes if node.name != formation.primary().name)
    roles = served.database.roles
    on_standby = databases.TestDatabase(name="atlas_ha", admin_url=standby.admin_url, roles=roles,
                                        app_url="", agent_url="")
    app = make_app(on_standby, cache_backend="none")
    try:
        client, auth = app.test_client(), {"Authorization": f"Bearer {served.tokens[0]}"}
        listed = client.get("/api/v1/contacts", headers=auth)
        written = [client.post("/api/v1/contacts", json={"first_name": "RO"}, headers=auth) for _ in range(2)]
        ready = client.get("/readyz")
    finally:
        close_app(app)
    assert listed.status_code == 200, listed.get_json()
    for answer in written:
        body = answer.get_json()
        assert answer.status_code == 503 and answer.headers.get("Retry-After"), body
        assert body["code"] == "database_read_only" and "target_session_attrs" in body["message"], body
        assert standby.address in body["message"], body
    database = ready.get_json()["checks"]["database"]
    assert ready.status_code == 503 and standby.address in database["error"] and "standby" in database["error"]


def test_losing_the_primary_under_writes_loses_no_acknowledged_write(served: Served) -> None:
    formation = served.formation
    formation.wait_stable()
    victim = formation.primary()
    writes, killed, _ = _under_writes(served, lambda: formation.lose(victim))
    survivor = formation.primary()
    resumed = min(done for sent, done, status, _ in writes.answers if status == 201 and sent > killed) - killed
    outcome = _check_exactly_once(served, writes)
    ready = _readiness(served)
    surfaces = _surfaces(served)
    print(f"\n[lost primary {victim.name}] answers {dict(writes.statuses())} {dict(writes.codes)}; {outcome};"
          f" writes resumed {resumed:.2f} s after the SIGKILL; readyz {ready}")
    print(f"refusals: {writes.messages}")
    print("ambiguous writes: " + ", ".join(f"{key} (org {org}: {seen})" for key, (org, seen) in writes.ambiguous.items()))
    assert survivor.name != victim.name
    assert outcome["lost"] == 0
    assert set(writes.statuses()) <= {201, 503}, writes.statuses()
    assert all(ra for _, _, status, ra in writes.answers if status == 503), "a 503 without Retry-After"
    assert set(writes.codes) <= OUTAGE_CODES, writes.messages
    assert resumed < RESUME_TARGET_S, f"writes resumed {resumed:.2f} s after the primary was lost"
    assert ready["http"] == 200 and ready["checks"]["database"]["primary"] == survivor.address, ready
    assert surfaces == SURFACES_OK
