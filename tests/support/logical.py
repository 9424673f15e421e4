"""A cluster of the tests' own with wal_level = logical, for the tests that move orgs.

`atlas org move` streams an org's rows by logical replication, which needs
wal_level = logical on the source; the shared test server may run without it
(and its configuration is not the tests' to change). Test modules that move
orgs point their `db_factory` at this one: `db_factory = logical_db_factory`.
"""
from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from app.devdb.databases import DatabaseFactory
from app.devdb.server import DURABLE, Cluster
from app.placement import logical

OPTIONS = DURABLE + " -c wal_level=logical -c max_replication_slots=16 -c max_wal_senders=16"


@pytest.fixture(scope="session")
def logical_factory() -> Iterator[DatabaseFactory]:
    """A started cluster with wal_level = logical and a migrated template in it; removed at the end."""
    cluster = Cluster(options=OPTIONS)
    try:
        cluster.start()
        factory = DatabaseFactory(cluster.server())
        factory.build_template()
        yield factory
        factory.drop_all()
    finally:
        cluster.remove()


def leftovers(source_url: str, target_url: str, org: object) -> list[str]:
    """The move's slots, publication and subscription still in the source and target (none is the goal)."""
    import uuid

    with psycopg.connect(source_url, autocommit=True) as source, psycopg.connect(target_url, autocommit=True) as target:
        return logical.leftovers(source, target, uuid.UUID(str(org)))
