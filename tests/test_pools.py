"""Per-org pools (app/pools): LRU eviction, the capacity cap, quotas, drains, metrics.

Every test runs against a real migrated database as the application role, in
both modes unless the behaviour belongs to one. Timeouts are short so a wait
that should end in an error ends quickly.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from contextlib import ExitStack

import psycopg
import pytest
from psycopg import sql

from app.errors import ServiceUnavailableError
from app.errors.configuration import ConfigurationError
from app.errors.database import MissingOrgError, PoolCapacityExceededError
from app.pools import PerOrgLimits, PoolConfig, create_registry

MODES = ["dedicated", "shared"]


@pytest.fixture
def registry(fresh_db):
    """A factory of opened registries on fresh_db's app role, closed after the test."""
    made = []

    def make(mode: str, *, per_org: dict | None = None, cap: int = 20, base_max: int = 2,
             timeout_ms: int = 300, datasources: dict | None = None):
        limits = None if per_org is None else PerOrgLimits(**{"warmup_probes": 1, **per_org})
        config = PoolConfig(datasources=datasources or {"default": fresh_db.app_url}, mode=mode,
                            per_org=limits, max_total_connections=cap, base_min_connections=0,
                            base_max_connections=base_max, timeout_ms=timeout_ms)
        made.append(create_registry(config).open())
        return made[-1]

    yield make
    for reg in made:
        reg.close()


def orgs(n: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(n)]


def touch(reg, org, datasource: str = "default") -> int:
    """One short org-scoped transaction; returns the backend pid that served it."""
    with reg.connection(org, datasource) as conn, conn.transaction():
        conn.execute(set_org(org))
        return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def set_org(org) -> sql.Composed:
    """What the door sends (SET cannot take a parameter; the value is a quoted literal)."""
    return sql.SQL("SET LOCAL app.org_id = {}").format(sql.Literal(str(org)))


def live_orgs(reg) -> list[str]:
    return [row["org_id"] for row in reg.snapshot()["orgs"] if row["state"] == "live"]


def backends_named(admin_url: str, name: str) -> int:
    """This test database's backends with that application name (another Atlas on the server has its own)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity"
                            " WHERE application_name = %s AND datname = current_database()",
                            (name,)).fetchone()[0]


def wait_until(predicate, *, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.mark.parametrize("mode", MODES)
def test_lru_evicts_the_least_recently_used_org(registry, mode):
    reg = registry(mode, per_org={"max_orgs": 3, "max_connections": 2})
    a, b, c, d, e = orgs(5)
    for org in (a, b, c, a):  # a is used again: b is now the least recently used
        touch(reg, org)
    touch(reg, d)
    assert live_orgs(reg) == [str(x) for x in (c, a, d)]
    touch(reg, e)
    assert live_orgs(reg) == [str(x) for x in (a, d, e)]
    snap = reg.snapshot()
    assert snap["totals"]["evictions"] == 2
    assert [r["evictions"] for r in reg.snapshot(b)["orgs"]] == [1]


def test_an_evicted_dedicated_pool_closes_its_connections(registry, fresh_db):
    reg = registry("dedicated", per_org={"max_orgs": 1, "max_connections": 2})
    a, b = orgs(2)
    touch(reg, a)
    name_a = f"atlas:{a}:default"
    assert backends_named(fresh_db.admin_url, name_a) == 1
    touch(reg, b)
    assert wait_until(lambda: backends_named(fresh_db.admin_url, name_a) == 0)
    assert backends_named(fresh_db.admin_url, f"atlas:{b}:default") == 1


@pytest.mark.parametrize("mode", MODES)
def test_an_org_with_a_checked_out_connection_is_never_evicted(registry, mode):
    reg = registry(mode, per_org={"max_orgs": 2, "max_connections": 2})
    a, b, c, d = orgs(4)
    with reg.connection(a) as held:  # a is the least recently used, but busy
        touch(reg, b)
        touch(reg, c)  # evicts b, the least recently used idle org
        assert live_orgs(reg) == [str(a), str(c)]
        assert held.execute("SELECT 1").fetchone() == (1,)
        with reg.connection(c):
            started = time.monotonic()
            with pytest.raises(PoolCapacityExceededError) as caught:
                touch(reg, d)  # a and c both busy: nothing may be evicted
            assert time.monotonic() - started >= 0.25  # it waited pool.timeoutMs first
        assert held.execute("SELECT 2").fetchone() == (2,)
    error = caught.value
    assert (error.status, error.code) == (503, "pool_capacity_exceeded")
    for setting in ("pool.perOrg.maxConnections", "pool.perOrg.maxOrgs", "maxTotalConnections"):
        assert setting in error.message
    touch(reg, d)  # once idle, an org can be evicted again
    assert str(d) in live_orgs(reg)


def test_pools_beyond_max_total_connections_raise_the_cap_error(registry):
    # base 1 + two org pools of 2 = 5: a third org pool would exceed the cap.
    reg = registry("dedicated", per_org={"max_orgs": 10, "max_connections": 2}, cap=5, base_max=1)
    a, b, c = orgs(3)
    with reg.connection(a), reg.connection(b):
        with pytest.raises(PoolCapacityExceededError, match="maxTotalConnections reached"):
            touch(reg, c)
        assert reg.snapshot()["totals"]["reserved_connections"] == 5
    touch(reg, c)  # a and b are idle now: the least recently used one makes room
    assert live_orgs(reg) == [str(b), str(c)]
    assert reg.snapshot()["totals"]["reserved_connections"] <= 5


def test_a_waiting_org_gets_room_as_soon_as_another_goes_idle(registry):
    reg = registry("dedicated", per_org={"max_orgs": 1, "max_connections": 1}, timeout_ms=5000)
    a, b = orgs(2)
    release = threading.Event()

    def hold_a():
        with reg.connection(a):
            release.wait(5)

    holder = threading.Thread(target=hold_a)
    holder.start()
    assert wait_until(lambda: live_orgs(reg) == [str(a)])
    threading.Timer(0.2, release.set).start()
    started = time.monotonic()
    touch(reg, b)
    holder.join()
    assert 0.15 <= time.monotonic() - started < 4
    assert live_orgs(reg) == [str(b)]


@pytest.mark.parametrize("mode", MODES)
def test_an_org_at_its_quota_waits_while_another_org_is_served(registry, mode):
    reg = registry(mode, per_org={"max_orgs": 5, "max_connections": 2})
    noisy, quiet = orgs(2)
    with ExitStack() as stack:
        for _ in range(2):
            stack.enter_context(reg.connection(noisy))
        with pytest.raises(ServiceUnavailableError, match="pool.perOrg.maxConnections"):
            touch(reg, noisy)
        started = time.monotonic()
        touch(reg, quiet)
        assert time.monotonic() - started < 0.25
        row = next(r for r in reg.snapshot(noisy)["orgs"])
        assert (row["active"], row["errors"]) == (2, 1)


@pytest.mark.parametrize("mode", MODES)
def test_requests_waiting_on_an_org_quota_are_served_in_arrival_order(registry, mode):
    reg = registry(mode, per_org={"max_orgs": 5, "max_connections": 1, "max_waiting": 3}, timeout_ms=5000)
    org = uuid.uuid4()
    served: list[int] = []

    def wait_then_record(n: int) -> None:
        with reg.connection(org):
            served.append(n)

    waiters = []
    with reg.connection(org):
        for n in range(3):
            waiters.append(threading.Thread(target=wait_then_record, args=(n,)))
            waiters[-1].start()
            assert wait_until(lambda: reg.snapshot(org)["orgs"][0]["waiting"] == n + 1)
    for thread in waiters:
        thread.join()
    assert served == [0, 1, 2]


@pytest.mark.parametrize("mode", MODES)
def test_past_max_waiting_an_orgs_request_is_refused_at_once(registry, mode):
    """Issue 24 item 13: a request waiting for its org's connection holds a server thread; an org
    queueing without bound (writes blocked by a lock) took the threads other orgs' reads needed."""
    reg = registry(mode, per_org={"max_orgs": 5, "max_connections": 1, "max_waiting": 1}, timeout_ms=3000)
    noisy, quiet = orgs(2)
    waiting = threading.Thread(target=lambda: touch(reg, noisy))
    with reg.connection(noisy):
        waiting.start()
        assert wait_until(lambda: reg.snapshot(noisy)["orgs"][0]["waiting"] == 1)
        started = time.monotonic()
        with pytest.raises(ServiceUnavailableError, match="pool.perOrg.maxWaiting"):
            touch(reg, noisy)
        assert time.monotonic() - started < 1.0  # at once, not after pool.timeoutMs
        touch(reg, quiet)
    waiting.join()


def terminate(admin_url: str, pid: int) -> None:
    """Kill a backend as the superuser and wait until it is gone."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        gone = lambda: admin.execute(  # noqa: E731
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0] == 0
        assert wait_until(gone)


def fail_once(reg, org, admin_url: str) -> None:
    with pytest.raises(psycopg.OperationalError), reg.connection(org) as conn:
        terminate(admin_url, conn.info.backend_pid)
        conn.execute("SELECT 1")


@pytest.mark.parametrize("mode", MODES)
def test_consecutive_failures_drain_the_org_and_it_recovers(registry, fresh_db, mode):
    reg = registry(mode, per_org={"max_orgs": 5, "max_connections": 2, "drain_threshold": 2})
    org, other = orgs(2)
    touch(reg, other)
    fail_once(reg, org, fresh_db.admin_url)
    touch(reg, org)  # a success in between: failures are not consecutive any more
    fail_once(reg, org, fresh_db.admin_url)
    assert reg.snapshot(org)["drains"] == []
    generation = reg.snapshot(org)["orgs"][0].get("generation")
    fail_once(reg, org, fresh_db.admin_url)
    snap = reg.snapshot(org)
    assert len(snap["drains"]) == 1
    drain = snap["drains"][0]
    assert drain["org_id"] == str(org) and "2 consecutive failures" in drain["reason"] and drain["at"]
    if mode == "dedicated":  # the pool was closed and left the LRU
        assert str(org) not in live_orgs(reg)
    touch(reg, org)  # recreated (dedicated) or simply admitted again (shared)
    row = next(r for r in reg.snapshot(org)["orgs"] if r["state"] == "live")
    assert row["consecutive_failures"] == 0 and row["drains"] == [drain]
    if mode == "dedicated":
        assert row["generation"] != generation and row["pools_created"] == 2
    assert reg.snapshot(other)["drains"] == []
    assert reg.snapshot()["totals"]["drains"] == 1


@pytest.mark.parametrize("mode", MODES)
def test_metrics_count_checkouts_queries_and_errors(registry, mode):
    reg = registry(mode, per_org={"max_orgs": 5, "max_connections": 2})
    org = uuid.uuid4()
    for _ in range(3):
        touch(reg, org)
    with pytest.raises(psycopg.errors.DivisionByZero), reg.connection(org) as conn:
        conn.execute("SELECT 1 / 0")
    row = reg.snapshot(org)["orgs"][0]
    assert (row["requests"], row["checkouts"], row["queries"], row["errors"]) == (4, 4, 7, 1)
    assert row["error_rate"] == 0.25
    assert row["consecutive_failures"] == 0  # a query error is not a connection failure
    assert (row["active"], row["waiting"]) == (0, 0)


@pytest.mark.parametrize("mode", MODES)
def test_an_org_admin_snapshot_names_no_other_org(registry, mode):
    reg = registry(mode, per_org={"max_orgs": 5, "max_connections": 2})
    mine, theirs = orgs(2)
    touch(reg, mine)
    touch(reg, theirs)
    mine_view = json.dumps(reg.snapshot(mine))
    assert str(mine) in mine_view and str(theirs) not in mine_view
    assert set(json.loads(mine_view)["totals"]) == {"reserved_connections", "open_connections"}
    everything = json.loads(json.dumps(reg.snapshot()))
    assert {r["org_id"] for r in everything["orgs"]} == {str(mine), str(theirs)}
    assert everything["base"][0]["datasource"] == "default"


@pytest.mark.parametrize("mode", MODES)
def test_without_per_org_limits_every_org_shares_the_base_pool(registry, fresh_db, mode):
    reg = registry(mode, per_org=None, base_max=1)
    a, b = orgs(2)
    assert touch(reg, a) == touch(reg, b)  # one base connection served both
    snap = reg.snapshot()
    assert snap["orgs"] == [] and snap["base"][0]["checkouts"] == 2
    assert backends_named(fresh_db.admin_url, "atlas:base:default") == 1


def test_eviction_takes_all_of_an_orgs_datasources(registry, fresh_db):
    sources = {"default": fresh_db.app_url, "reporting": fresh_db.app_url}
    reg = registry("dedicated", per_org={"max_orgs": 1, "max_connections": 1}, datasources=sources)
    a, b = orgs(2)
    touch(reg, a, "default")
    touch(reg, a, "reporting")
    assert len(reg.snapshot(a)["orgs"]) == 2
    touch(reg, b, "reporting")
    assert {r["state"] for r in reg.snapshot(a)["orgs"]} == {"evicted"}
    assert reg.snapshot()["totals"]["reserved_connections"] == 2 * 2 + 1


def test_bad_org_or_datasource_fails_before_any_connection(registry):
    reg = registry("shared", per_org={"max_orgs": 5, "max_connections": 2})
    opened = reg.snapshot()["totals"]["connections_opened"]  # the warmup probes of open()
    for bad in (None, "", "not-a-uuid"):
        with pytest.raises(MissingOrgError):
            touch(reg, bad)
    with pytest.raises(ConfigurationError, match="unknown datasource 'nope'"):
        touch(reg, uuid.uuid4(), "nope")
    snap = reg.snapshot()
    assert snap["orgs"] == [] and snap["totals"]["connections_opened"] == opened
