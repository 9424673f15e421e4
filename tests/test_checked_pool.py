"""app/checked_pool.py: the pool checks what it gets back and never lends it in an unknown state."""
from __future__ import annotations

import uuid

import psycopg
import pytest

from app import wire
from app.checked_pool import CheckedPool


@pytest.fixture(scope="module")
def database(db_factory):
    db = db_factory.clone()
    yield db
    db_factory.drop(db.name)


@pytest.fixture
def pool(database):
    pool = CheckedPool(database.app_url, min_size=1, max_size=1, timeout=5, kwargs={"autocommit": True},
                       open=False)
    pool.open(wait=True)
    yield pool
    pool.close()


@pytest.mark.parametrize("leave", ["in pipeline mode", "with a pipeline of the wire unsettled"])
def test_a_connection_given_back_in_an_unknown_state_is_discarded(pool, leave: str) -> None:
    conn = pool.getconn()
    pid = conn.info.backend_pid
    wire.scoped_read(conn, uuid.uuid4(), "SELECT 1")  # the wire keeps state for it
    if leave == "in pipeline mode":
        conn.pgconn.enter_pipeline_mode()
    else:
        wire._states[conn].unsettled = True  # what an interrupted pipeline leaves
    pool.putconn(conn)
    with pool.connection() as again:
        assert again.info.backend_pid != pid
        assert wire.scoped_read(again, uuid.uuid4(), "SELECT 1 AS one") == [{"one": 1}]


def test_a_connection_given_back_clean_is_lent_again(pool) -> None:
    with pool.connection() as conn:
        pid = conn.info.backend_pid
        wire.scoped_read(conn, uuid.uuid4(), "SELECT 1")
    with pool.connection() as again:
        assert again.info.backend_pid == pid
    with pytest.raises(psycopg.errors.DivisionByZero), pool.connection() as conn:
        wire.scoped_read(conn, uuid.uuid4(), "SELECT 1 / 0")
    with pool.connection() as again:  # a query error leaves the connection clean: kept
        assert again.info.backend_pid == pid
