"""Per-org pools must not leak tenants or connections.

A connection reused by another org carries no tenant state (the org setting
is transaction-local), and PostgreSQL never sees more application-role
connections than maxTotalConnections, however many orgs come and go.
"""
from __future__ import annotations

import random
import threading
import time
import uuid

import psycopg
import pytest
from psycopg import sql

from app.pools import PerOrgLimits, PoolConfig, create_registry
from tests.support import rows


def set_org(org: uuid.UUID) -> sql.Composed:
    return sql.SQL("SET LOCAL app.org_id = {}").format(sql.Literal(str(org)))


@pytest.mark.parametrize("per_org", [True, False], ids=["shared-with-quotas", "base-pool-only"])
def test_a_connection_reused_by_another_org_carries_no_tenant_state(fresh_db, per_org):
    with psycopg.connect(fresh_db.admin_url, autocommit=True) as admin:
        org_a, org_b = rows.make_org(admin, "Alpha"), rows.make_org(admin, "Bravo")
        for org, n in ((org_a, 3), (org_b, 2)):
            for _ in range(n):
                rows.insert_row(admin, "contacts", org)
    # One physical connection in all: B must get the very connection A used.
    config = PoolConfig(datasources={"default": fresh_db.app_url}, mode="shared",
                        per_org=PerOrgLimits(max_connections=1) if per_org else None,
                        max_total_connections=1, base_min_connections=0, base_max_connections=1)
    with create_registry(config) as reg:
        with reg.connection(org_a) as conn, conn.transaction():
            conn.execute(set_org(org_a))
            pid_a = conn.info.backend_pid
            seen = conn.execute("SELECT DISTINCT org_id FROM contacts").fetchall()
            assert seen == [(org_a,)]
        with reg.connection(org_b) as conn:
            assert conn.info.backend_pid == pid_a
            assert conn.execute("SELECT current_setting('app.org_id', true)").fetchone()[0] in (None, "")
            assert conn.execute("SELECT count(*) FROM contacts").fetchone()[0] == 0  # RLS: no org, no rows
            with conn.transaction():
                conn.execute(set_org(org_b))
                got = conn.execute("SELECT org_id FROM contacts").fetchall()
        assert got == [(org_b,), (org_b,)]


class ConnectionSampler(threading.Thread):
    """Counts the app role's backends in pg_stat_activity, as fast as it can, until stopped."""

    def __init__(self, admin_url: str, role: str, dbname: str) -> None:
        super().__init__(daemon=True)
        self.admin_url, self.role, self.dbname = admin_url, role, dbname
        self.stop = threading.Event()
        self.peak = 0
        self.samples = 0

    def run(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            while not self.stop.is_set():
                n = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND datname = %s",
                    (self.role, self.dbname)).fetchone()[0]
                self.peak = max(self.peak, n)
                self.samples += 1
                time.sleep(0.002)


@pytest.mark.parametrize("mode", ["dedicated", "shared"])
def test_pg_stat_activity_never_exceeds_max_total_connections(fresh_db, mode):
    cap, threads, requests_each = 12, 30, 12
    config = PoolConfig(
        datasources={"default": fresh_db.app_url}, mode=mode, max_total_connections=cap,
        per_org=PerOrgLimits(max_connections=2, max_orgs=50, warmup_probes=1),
        base_min_connections=1, base_max_connections=2, timeout_ms=30_000)
    orgs = [uuid.uuid4() for _ in range(200)]
    errors: list[BaseException] = []
    served: set[uuid.UUID] = set()
    sampler = ConnectionSampler(fresh_db.admin_url, fresh_db.roles.app, fresh_db.name)

    def work(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(requests_each):
            org = rng.choice(orgs)
            try:
                with reg.connection(org) as conn, conn.transaction():
                    conn.execute(set_org(org))
                    conn.execute("SELECT pg_sleep(0.003)")
                served.add(org)
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

    with create_registry(config) as reg:
        sampler.start()
        workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        sampler.stop.set()
        sampler.join()
        totals = reg.snapshot()["totals"]
    assert errors == []
    assert len(served) > 150
    assert sampler.samples > 20
    assert 3 <= sampler.peak <= cap, f"{sampler.peak} app-role connections with maxTotalConnections={cap}"
    assert totals["reserved_connections"] <= cap
    if mode == "dedicated":
        assert totals["evictions"] > 100  # 200 orgs through 5 pools' worth of capacity
