"""Pools of orgs' own datasources in the registry: counted in maxTotalConnections, retired when edited."""
from __future__ import annotations

import uuid

import psycopg
import pytest

from app.errors.database import PoolCapacityExceededError
from app.errors.query import ConnectionFailedError
from app.pools import PerOrgLimits, PoolConfig, create_registry
from tests.support.datasource import external_datasource


@pytest.fixture(scope="module")
def ds(db_factory):
    with external_datasource(db_factory) as datasource:
        yield datasource


def conninfo(ds) -> str:
    return psycopg.conninfo.make_conninfo(host=ds.host, port=ds.port, dbname=ds.dbname, user=ds.role,
                                          password=ds.password)


def registry_for(fresh_db, **kwargs):
    config = PoolConfig(datasources={"default": fresh_db.app_url}, timeout_ms=300, **kwargs)
    return create_registry(config).open(warmup=False)


def backends(ds) -> int:
    with psycopg.connect(ds.admin_url) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (ds.role,)).fetchone()[0]


def test_an_org_datasource_pool_is_reserved_against_the_cap(fresh_db, ds):
    registry = registry_for(fresh_db, max_total_connections=14, base_max_connections=10,
                            org_datasource_max_connections=2)
    try:
        org = uuid.uuid4()
        with registry.org_datasource_connection(org, "wh", source="wh@1", connect=lambda d: conninfo(ds)) as conn:
            assert conn.execute("SELECT count(*) FROM sales").fetchone()[0] > 0
        assert registry.admission.lru.reserved == 12
        snapshot = registry.snapshot(org)
        assert [row["datasource"] for row in snapshot["orgs"]] == ["connection:wh"]
        with registry.org_datasource_connection(uuid.uuid4(), "wh", source="wh@1", connect=lambda d: conninfo(ds)):
            pass
        assert registry.admission.lru.reserved == 14
        second = list(registry.admission.lru.entries)[-1]
        with registry.org_datasource_connection(org, "wh", source="wh@1", connect=lambda d: conninfo(ds)), \
                registry.org_datasource_connection(second, "wh", source="wh@1", connect=lambda d: conninfo(ds)):
            # both orgs busy, the cap reached: a third org is refused, not let past the cap
            with pytest.raises(PoolCapacityExceededError, match="maxTotalConnections"):
                with registry.org_datasource_connection(uuid.uuid4(), "wh", source="wh@1",
                                                        connect=lambda d: conninfo(ds)):
                    pass
        assert registry.admission.lru.reserved == 14
    finally:
        registry.close()


def test_a_full_cap_refuses_a_new_org_datasource_naming_the_settings(fresh_db, ds):
    """shared mode with per-org quotas sizes the shared pool to the whole cap unless room is reserved."""
    full = registry_for(fresh_db, mode="shared", per_org=PerOrgLimits(max_connections=1, warmup_probes=0),
                        max_total_connections=4)
    try:
        with pytest.raises(PoolCapacityExceededError) as refused:
            with full.org_datasource_connection(uuid.uuid4(), "wh", source="wh@1", connect=lambda d: conninfo(ds)):
                pass
        assert "maxTotalConnections" in refused.value.message
    finally:
        full.close()
    roomy = registry_for(fresh_db, mode="shared", per_org=PerOrgLimits(max_connections=1, warmup_probes=0),
                         max_total_connections=4, org_datasource_reserved=2)
    try:
        assert roomy.config.shared_pool_size == 2
        with roomy.org_datasource_connection(uuid.uuid4(), "wh", source="wh@1", connect=lambda d: conninfo(ds)):
            pass
    finally:
        roomy.close()


def test_an_edited_connection_gets_a_new_pool_and_the_old_one_closes(fresh_db, ds):
    registry = registry_for(fresh_db)
    org = uuid.uuid4()
    try:
        with registry.org_datasource_connection(org, "wh", source="wh@1", connect=lambda d: conninfo(ds)):
            pass
        first = registry.admission.lru.lookup(org, "connection:wh")
        with registry.org_datasource_connection(org, "wh", source="wh@2", connect=lambda d: conninfo(ds)):
            pass
        second = registry.admission.lru.lookup(org, "connection:wh")
        assert first is not second and first.disposed and first.pool.closed
        assert registry.admission.lru.reserved == registry.config.base_max_connections + second.reserved
    finally:
        registry.close()


def test_a_datasource_that_refuses_the_login_fails_at_once_with_its_reason(fresh_db, ds):
    from app.connections.service import _probe

    registry = registry_for(fresh_db)
    bad = conninfo(ds).replace(f"dbname={ds.dbname}", "dbname=no_such_database")

    def connect(deadline: float) -> str:
        _probe(bad, "wh", timeout_s=2)
        return bad

    try:
        with pytest.raises(ConnectionFailedError, match="no_such_database"):
            with registry.org_datasource_connection(uuid.uuid4(), "wh", source="wh@1", connect=connect):
                pass
        assert registry.admission.lru.reserved == registry.config.base_max_connections
    finally:
        registry.close()
    assert backends(ds) == 0
