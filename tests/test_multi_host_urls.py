"""A multi-host DATABASE_URL stays multi-host in every URL Atlas derives from it (no database needed).

libpq connects to whichever listed node accepts writes (`target_session_attrs=read-write`), so after a
failover every pool reconnects to the new primary on its own, as long as no derived URL lost a node
or the attribute: the roles' URLs, the worker's, the in-flight limiter's, the pools' default
datasource, a dedicated database's location and the role URLs placement builds on it.
tests/test_failover.py runs Atlas on such a URL through a real failover.
"""
from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict

from app.config import Settings
from app.connections import own_database
from app.failover import describe, servers
from app.placement.locations import location_of, role_conninfo, same_database
from app.pools.config import PoolConfig

FORMS = {
    "url": "postgresql://postgres@127.0.0.1:5433,127.0.0.1:5434/atlas?target_session_attrs=read-write",
    "keywords": "host=127.0.0.1,127.0.0.1 port=5433,5434 dbname=atlas user=postgres target_session_attrs=read-write",
}
NODES = [("127.0.0.1", 5433), ("127.0.0.1", 5434)]


def _keeps_every_node(url: str, *, user: str) -> None:
    params = conninfo_to_dict(url)
    assert servers(url) == NODES, url
    assert params.get("target_session_attrs") == "read-write", url
    assert params.get("dbname") == "atlas" and params.get("user") == user, url


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_derived_url_names_every_node_and_asks_for_the_writable_one(form: str) -> None:
    settings = Settings.from_env({"DATABASE_URL": FORMS[form]})
    database = settings.database
    roles = database.roles
    for url, user in ((database.app_database_url, roles.app), (database.agent_database_url, roles.agent),
                      (database.platform_database_url, roles.platform), (database.inflight_database_url, roles.app),
                      (database.worker_database_url, roles.worker)):
        _keeps_every_node(url, user=user)
    pools = PoolConfig.from_mapping(settings.pool_layout, default_url=database.app_database_url)  # as app/services.py
    _keeps_every_node(pools.datasources["default"], user=roles.app)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_dedicated_database_on_a_multi_host_url_keeps_its_nodes_for_every_role(form: str) -> None:
    dedicated = FORMS[form].replace("atlas", "org_db") if form == "keywords" else FORMS[form].replace("/atlas", "/org_db")
    location = location_of(dedicated)
    assert "user" not in conninfo_to_dict(location) and servers(location) == NODES
    settings = Settings.from_env({"DATABASE_URL": FORMS[form]})
    placed = role_conninfo(settings.database.app_database_url, location)
    assert servers(placed) == NODES and conninfo_to_dict(placed)["dbname"] == "org_db"
    assert conninfo_to_dict(placed)["user"] == settings.database.roles.app
    assert same_database(dedicated, placed) and not same_database(dedicated, FORMS[form])


def test_no_node_of_atlas_own_database_can_be_a_tenant_datasource() -> None:
    own = own_database(Settings.from_env({"DATABASE_URL": FORMS["url"]}))
    assert own.servers == frozenset(NODES)


@pytest.mark.parametrize(("url", "nodes", "described"), [
    ("host=a,b port=5433", [("a", 5433), ("b", 5433)], "a:5433,b:5433/"),  # one port for every host
    ("postgresql://a:1,b/x", [("a", 1), ("b", 5432)], "a:1,b:5432/x"),  # a missing port is the default
    ("dbname=x", [("localhost", 5432)], "localhost:5432/x"),
])
def test_servers_pairs_hosts_and_ports_as_libpq_does(url: str, nodes: list[tuple[str, int]], described: str) -> None:
    assert servers(url) == nodes
    assert describe(url) == described
