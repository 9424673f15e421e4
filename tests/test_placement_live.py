"""`atlas org move` under concurrent writes of the moving org and another org, through the live API.

The server (granian) with two workers serves Acme and Globex while Acme moves to a database
of its own: every write answered 2xx must exist afterwards in the right
database, a refused write must not exist anywhere, and Globex is never held.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from app.devdb.databases import DatabaseFactory
from app.placement.locations import location_of
from tests.support.errors import error_code
from tests.support.placement import CACHE_S, atlas, ids_in, placement_of
from tests.support.serving import owner_of_new_org, request, served_app


@dataclass
class Writes:
    created: list[str] = field(default_factory=list)
    refused: list[tuple[int, str, str | None]] = field(default_factory=list)  # status, code, Retry-After


def keep_writing(port: int, token: str, tag: str, stop: threading.Event, into: Writes) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        status, headers, body = request(port, "POST", "/api/v1/accounts", {"name": f"{tag} {n}"}, token,
                                        headers={"Connection": "close"})
        if status == 201:
            into.created.append(body["id"])
        else:
            into.refused.append((status, error_code(body), headers.get("Retry-After")))


@pytest.fixture(scope="session")
def db_factory(logical_factory: DatabaseFactory) -> DatabaseFactory:
    """Moves stream by logical replication: this module's databases live on a wal_level = logical cluster."""
    return logical_factory


@pytest.fixture
def databases(db_factory: DatabaseFactory) -> Iterator[tuple]:
    shared, dedicated = db_factory.clone(), db_factory.empty()
    yield shared, dedicated
    db_factory.drop(shared.name)
    db_factory.drop(dedicated.name)


def test_every_write_answered_during_a_move_is_in_the_right_database(databases: tuple) -> None:
    shared, dedicated = databases
    with served_app(shared, workers=2, threads=4, placement_cache_s=CACHE_S) as served:
        acme, globex = owner_of_new_org(served.port, "acme"), owner_of_new_org(served.port, "globex")
        writes = {"acme": Writes(), "globex": Writes()}
        stop = threading.Event()
        writers = [threading.Thread(target=keep_writing, args=(served.port, token, f"{slug}-{i}", stop, writes[slug]))
                   for slug, token in (("acme", acme), ("globex", globex)) for i in range(2)]
        for writer in writers:
            writer.start()
        try:
            time.sleep(1.0)
            before = len(writes["acme"].created)
            moved = atlas(shared, "org", "move", "acme", "--to", dedicated.admin_url)
            during = len(writes["acme"].created) - before
            time.sleep(1.0)
        finally:
            stop.set()
            for writer in writers:
                writer.join(timeout=30)
        assert moved.returncode == 0, moved.stdout + moved.stderr
        assert during > 0  # Acme kept writing while its rows were copied
        print(f"acme: {len(writes['acme'].created)} written ({during} during the move),"
              f" {len(writes['acme'].refused)} held; globex: {len(writes['globex'].created)} written")

    org_a = _org_id(shared, "acme")
    org_b = _org_id(shared, "globex")
    assert placement_of(shared, org_a) == location_of(dedicated.admin_url)
    # Acme: every 2xx write is in its database, exactly (a refused write left no row), none in the shared one.
    assert writes["acme"].created and set(writes["acme"].created) == ids_in(dedicated.admin_url, "accounts", org_a)
    assert not ids_in(shared.admin_url, "accounts", org_a)
    # Any refusal of Acme's writes was the hold: 503 org_moving with Retry-After.
    assert all(r == (503, "org_moving", "1") for r in writes["acme"].refused), writes["acme"].refused
    # Globex was never held and never moved.
    assert writes["globex"].refused == []
    assert set(writes["globex"].created) == ids_in(shared.admin_url, "accounts", org_b)
    assert not ids_in(dedicated.admin_url, "accounts", org_b)


def _org_id(shared, slug: str):  # type: ignore[no-untyped-def]
    import psycopg

    with psycopg.connect(shared.admin_url) as conn:
        row = conn.execute("SELECT id FROM organizations WHERE slug = %s", (slug,)).fetchone()
    assert row is not None
    return row[0]
