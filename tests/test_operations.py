"""What operators watch: /healthz, /readyz and /metrics, in one process and across server workers."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from psycopg.conninfo import make_conninfo

from app.config import Settings
from app.devdb import databases
from app.devdb.ports import free_port
from app.errors.configuration import ConfigurationError
from app.ops import metrics
from tests.support.api import (
    TwoOrgs,
    anonymous,
    close_app,
    make_app,
    two_org_world,
)
from tests.support.errors import error_of
from tests.support.serving import atlas_serve, request

TOKEN = "scrape-" + uuid.uuid4().hex
TIMEOUT_S = 0.5
BUDGET_S = TIMEOUT_S + 1.5  # generous: the probe must give up after about one timeout, not hang


@contextmanager
def app_on(db: databases.TestDatabase, **overrides: Any) -> Iterator[Flask]:
    app = make_app(db, **overrides)
    try:
        yield app
    finally:
        close_app(app)


@contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word: a hung database or Redis."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def closed_port_url(db: databases.TestDatabase) -> str:
    return make_conninfo(db.admin_url, host="127.0.0.1", port=free_port())


def scrape(app: Flask, token: str | None = TOKEN) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return anonymous(app).get("/metrics", headers=headers)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of an exposition."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def timed_readyz(app: Flask) -> tuple[Any, float]:
    started = time.monotonic()
    response = anonymous(app).get("/readyz")
    return response, time.monotonic() - started


# ----- /healthz ----------------------------------------------------------------------------------
def test_healthz_answers_from_the_process_even_with_the_database_gone(fresh_db: databases.TestDatabase) -> None:
    with app_on(fresh_db, database_url=closed_port_url(fresh_db)) as app:
        # A bearer token would normally be looked up in the database; a probe never is.
        r = anonymous(app).get("/healthz", headers={"Authorization": "Bearer some-session-token"})
        assert r.status_code == 200 and r.get_json() == {"status": "ok"}


# ----- /readyz -----------------------------------------------------------------------------------
def test_readyz_is_ready_when_the_database_answers(api_app: Flask) -> None:
    r = anonymous(api_app).get("/readyz")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "ready" and body["checks"]["database"]["status"] == "ok"
    assert "redis" not in body["checks"]  # the memory cache needs no Redis


def test_readyz_checks_redis_when_the_cache_uses_it(fresh_db: databases.TestDatabase) -> None:
    with app_on(fresh_db, cache_backend="redis", cache_key_prefix=f"atlas-test-{uuid.uuid4().hex}") as app:
        r = anonymous(app).get("/readyz")
        assert r.status_code == 200, r.get_json()
        assert {k: v["status"] for k, v in r.get_json()["checks"].items()} == {"database": "ok", "redis": "ok"}


def test_readyz_is_503_with_retry_after_when_the_database_is_unreachable(fresh_db: databases.TestDatabase) -> None:
    with app_on(fresh_db, database_url=closed_port_url(fresh_db), readiness_timeout_s=TIMEOUT_S) as app:
        r, elapsed = timed_readyz(app)
    assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1
    body = r.get_json()
    assert error_of(body)["code"] == "not_ready" and "database" in error_of(body)["message"]
    assert body["checks"]["database"]["status"] == "failed"
    assert elapsed < BUDGET_S


def test_readyz_gives_up_on_a_database_that_accepts_and_never_answers(fresh_db: databases.TestDatabase) -> None:
    with silent_server() as port, app_on(fresh_db, database_url=make_conninfo(fresh_db.admin_url, host="127.0.0.1",
                                                                               port=port),
                                         readiness_timeout_s=TIMEOUT_S) as app:
        r, elapsed = timed_readyz(app)
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert r.get_json()["checks"]["database"] == {
        "status": "failed", "ms": r.get_json()["checks"]["database"]["ms"],
        "error": f"did not answer within {TIMEOUT_S:g} s"}
    assert TIMEOUT_S * 0.9 <= elapsed < BUDGET_S


@pytest.mark.parametrize("redis_kind", ["closed port", "silent server"])
def test_readyz_is_503_when_redis_is_configured_but_unreachable(
    fresh_db: databases.TestDatabase, redis_kind: str
) -> None:
    with silent_server() as silent:
        port = free_port() if redis_kind == "closed port" else silent
        with app_on(fresh_db, cache_backend="redis", cache_redis_url=f"redis://127.0.0.1:{port}/0",
                    cache_key_prefix=f"atlas-test-{uuid.uuid4().hex}", readiness_timeout_s=TIMEOUT_S) as app:
            r, elapsed = timed_readyz(app)
    assert r.status_code == 503 and r.headers["Retry-After"]
    checks = r.get_json()["checks"]
    assert checks["database"]["status"] == "ok" and checks["redis"]["status"] == "failed"
    assert "redis" in error_of(r)["message"]
    assert elapsed < BUDGET_S


def test_readyz_probes_at_most_once_a_second_however_often_it_is_asked(
    api_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Public and unauthenticated, so a flood must not become a flood of database connections."""
    from app.ops import readiness

    probes: list[float] = []
    real_check = readiness.check_database

    def counted(url: str, *, timeout_s: float) -> readiness.Check:  # the real probe, counted
        probes.append(time.monotonic())
        return real_check(url, timeout_s=timeout_s)

    monkeypatch.setattr(readiness, "check_database", counted)
    started = time.monotonic()
    statuses = {anonymous(api_app).get("/readyz").status_code for _ in range(30)}
    elapsed = time.monotonic() - started
    assert statuses == {200}
    assert 1 <= len(probes) <= 1 + int(elapsed / readiness.RESULT_TTL_S)


def test_a_readiness_timeout_out_of_range_is_refused_at_start_up(fresh_db: databases.TestDatabase) -> None:
    with pytest.raises(ConfigurationError, match="READINESS_TIMEOUT_S"):
        make_app(fresh_db, readiness_timeout_s=0)


# ----- /metrics: access ----------------------------------------------------------------------------
def test_metrics_are_refused_without_the_token(fresh_db: databases.TestDatabase) -> None:
    with app_on(fresh_db, metrics_token=TOKEN) as app:
        session_like = "Bearer " + uuid.uuid4().hex
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                        {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": session_like}):
            r = anonymous(app).get("/metrics", headers=headers)
            assert r.status_code == 401 and error_of(r)["code"] == "unauthorized", headers
            assert b"atlas_http_requests" not in r.data
        served = scrape(app)
        assert served.status_code == 200 and served.mimetype == "text/plain"
        assert "atlas_http_requests_total" in served.get_data(as_text=True)


def test_metrics_are_off_until_a_token_is_configured(api_app: Flask) -> None:
    r = scrape(api_app, token="anything")
    assert r.status_code == 403 and "ATLAS_METRICS_TOKEN" in error_of(r)["message"]


# ----- /metrics: what they say -------------------------------------------------------------------
@pytest.fixture
def watched(db_factory: databases.DatabaseFactory) -> Iterator[TwoOrgs]:
    with two_org_world(db_factory, metrics_token=TOKEN, query_rate_per_minute=1) as world:
        yield world


def test_counters_label_routes_and_statuses_and_never_an_org(watched: TwoOrgs) -> None:
    app, member = watched.app, watched.user("a", "member")
    before = samples(scrape(app).get_data(as_text=True))
    contact = member.post("/api/v1/contacts", json={"first_name": "Watched"}).get_json()["id"]
    for _ in range(3):
        assert member.get(f"/api/v1/contacts/{contact}").status_code == 200
    assert member.get(f"/api/v1/contacts/{uuid.uuid4()}").status_code == 404
    assert anonymous(app).get(f"/no/such/{watched.org_a}").status_code == 404
    assert anonymous(app).get("/api/v1/contacts").status_code == 401
    assert member.post("/api/v1/query", json={"sql": "SELECT 1"}).status_code in (200, 400)
    limited = member.post("/api/v1/query", json={"sql": "SELECT 1"})
    assert limited.status_code == 429 and error_of(limited)["code"] == "rate_limited"
    text = scrape(app).get_data(as_text=True)
    after = samples(text)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    item = "/api/v1/contacts/<row_id>"
    assert grew("atlas_http_requests_total", route=item, method="GET", status="200") == 3
    assert grew("atlas_http_requests_total", route=item, method="GET", status="404") == 1
    assert grew("atlas_http_requests_total", route="/api/v1/contacts", method="POST", status="201") == 1
    assert grew("atlas_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert grew("atlas_http_requests_total", route="/api/v1/query", method="POST", status="429") == 1
    assert grew("atlas_http_request_duration_seconds_count", route=item, method="GET") == 4  # 200s and the 404
    assert grew("atlas_refusals_total", reason="not_found") == 2  # the unknown contact and the unknown path
    assert grew("atlas_refusals_total", reason="unauthorized") == 1
    assert grew("atlas_refusals_total", reason="rate_limited") == 1
    assert value(after, "atlas_agent_queries_in_flight") == 0
    assert value(after, "atlas_pool_open_connections") >= 1
    assert value(after, "atlas_pool_max_connections") >= 1
    # No tenant anywhere: ids, names, slugs, emails, the contact's id, a raw path.
    people = list(watched.users.values())
    forbidden = [str(watched.org_a), str(watched.org_b), "Acme", "Globex", "acme", "globex", contact,
                 *(str(u.user_id) for u in people), *(u.email for u in people)]
    assert [word for word in forbidden if word in text] == []
    assert "atlas_org_" not in text.replace("# HELP atlas_org_", "").replace("# TYPE atlas_org_", "")


def test_org_labels_appear_only_when_an_operator_turns_them_on(db_factory: databases.DatabaseFactory) -> None:
    with two_org_world(db_factory, metrics_token=TOKEN, metrics_org_labels=True) as world:
        member = world.user("a", "member")
        assert member.get("/api/v1/contacts").status_code == 200
        assert member.get(f"/api/v1/contacts/{uuid.uuid4()}").status_code == 404
        found = samples(scrape(world.app).get_data(as_text=True))
    org = str(world.org_a)
    assert value(found, "atlas_org_http_requests_total", org_id=org, route="/api/v1/contacts", status="200") >= 1
    assert value(found, "atlas_org_refusals_total", org_id=org, reason="not_found") >= 1


def test_agent_work_outside_http_reports_in_flight_in_one_line(fresh_db) -> None:
    with app_on(fresh_db, metrics_token=TOKEN) as api_app:
        _in_flight_counts_work_outside_http(api_app)


def _in_flight_counts_work_outside_http(api_app: Flask) -> None:
    def in_flight() -> float:
        return value(samples(scrape(api_app).get_data(as_text=True)), "atlas_agent_queries_in_flight")

    with metrics.agent_query_in_flight(), metrics.agent_query_in_flight():
        assert in_flight() == 2
    assert in_flight() == 0


# ----- settings --------------------------------------------------------------------------------------
def test_operator_settings_are_read_from_the_environment() -> None:
    settings = Settings.from_env({"ATLAS_METRICS_TOKEN": "t0k", "ATLAS_METRICS_ORG_LABELS": "yes",
                                  "ATLAS_READINESS_TIMEOUT_S": "0.25"})
    assert (settings.metrics.token, settings.metrics.org_labels, settings.http.readiness_timeout_s) == ("t0k", True, 0.25)
    with pytest.raises(ConfigurationError, match="ATLAS_METRICS_ORG_LABELS"):
        Settings.from_env({"ATLAS_METRICS_ORG_LABELS": "maybe"})


# ----- across server workers ---------------------------------------------------------------------
def test_importing_the_cli_leaves_prometheus_client_unimported() -> None:
    """`atlas serve` must set PROMETHEUS_MULTIPROC_DIR before prometheus_client is first imported."""
    out = subprocess.run([sys.executable, "-c", "import sys, app.cli; print('prometheus_client' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _get(port: int, path: str, token: str | None = None) -> tuple[int, str]:
    status, _, text = request(port, "GET", path, token=token, timeout_s=10, text=True)
    return status, text


def _workers_of(master: int) -> list[int]:
    """Pids of the processes whose parent is `master` (the server's workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            found.append(int(stat.parent.name))
    return sorted(found)


def test_metrics_add_up_requests_answered_by_both_server_workers(fresh_db: databases.TestDatabase, tmp_path) -> None:
    env = {"TMPDIR": str(tmp_path), "ATLAS_METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": None}
    # one thread per worker: a worker busy with one client accepts no other
    with atlas_serve(fresh_db, tmp_path / "serve.log", workers=2, threads=1, env=env,
                     probe=lambda port: _get(port, "/readyz")) as server:
        port = server.port
        assert server.first_answer[0] == 200
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith("atlas-metrics-")], "no private metrics dir"
        # Worker A takes this half-sent request and waits for the rest; meanwhile B answers all others.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as held:
            held.sendall(b"GET /healthz HTTP/1.1\r\nHost: atlas\r\n")
            for _ in range(10):
                assert _get(port, "/healthz")[0] == 200
            held.sendall(b"Connection: close\r\n\r\n")
            assert held.recv(4096).startswith(b"HTTP/1.1 200")
        for _ in range(6):  # whichever worker answers the scrape, it counts both workers' requests
            status, text = _get(port, "/metrics", TOKEN)
            assert status == 200, text
            assert value(samples(text), "atlas_http_requests_total",
                         route="/healthz", method="GET", status="200") == 11
        # A worker killed outright: its live gauges are dropped by the master, its counts stay.
        metrics_dir = next(p for p in tmp_path.iterdir() if p.name.startswith("atlas-metrics-"))
        # The victim is a worker that has written its live gauges (a worker writes them when it first samples
        # its pools, so one may not have yet; and the files of the process that started them are there too).
        children = _workers_of(server.pid)
        deadline = time.monotonic() + 10
        while not (workers := [pid for pid in children if list(metrics_dir.glob(f"gauge_livesum_{pid}.db"))]):
            assert time.monotonic() < deadline, (children, sorted(p.name for p in metrics_dir.iterdir()))
            time.sleep(0.2)
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while victim in _workers_of(server.pid) or len(_workers_of(server.pid)) < len(children) or \
                list(metrics_dir.glob(f"gauge_live*_{victim}.db")):
            assert time.monotonic() < deadline, "the killed worker was not replaced and forgotten"
            time.sleep(0.2)
        status, text = _get(port, "/metrics", TOKEN)
        assert value(samples(text), "atlas_http_requests_total", route="/healthz", method="GET", status="200") == 11
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("atlas-metrics-")], "metrics dir left behind"
