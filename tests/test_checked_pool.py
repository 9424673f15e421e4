"""app/db/checked_pool.py: the pool checks what it gets back and never lends it in an unknown state."""
from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg_pool import PoolTimeout

from app.db import wire
from app.db.checked_pool import CheckedPool, wait_timed_out
from app.errors.database import DatabaseUnavailableError


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


def test_a_wait_that_times_out_just_after_an_outage_blames_the_outage_not_the_pool_size(database) -> None:
    """Connecting fails (the database is away), then works again (a restart, a failover) while the pool
    is still short of connections: a wait that times out then is the outage's 503, not a pool-size hint."""
    role = f"atlas_t_pool_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(database.admin_url, autocommit=True)
    admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    admin.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database.name),
                                                                     sql.Identifier(role)))
    pool = CheckedPool(make_conninfo(database.admin_url, user=role), min_size=1, max_size=1, timeout=1,
                       kwargs={"autocommit": True}, open=False)
    try:
        pool.open(wait=True)
        with pool.connection() as conn:
            pid = conn.info.backend_pid
        admin.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(role)))  # the database is away
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
        with pytest.raises(PoolTimeout):
            pool.getconn(timeout=1.0)
        assert isinstance(wait_timed_out(pool, waited_s=1.0, what="the pool", hint="raise X"), DatabaseUnavailableError)
        admin.execute(sql.SQL("ALTER ROLE {} LOGIN").format(sql.Identifier(role)))  # back
        held = pool.getconn(timeout=5.0)
        try:
            with pytest.raises(PoolTimeout):
                pool.getconn(timeout=0.3)  # the pool's one connection is busy
            refusal = wait_timed_out(pool, waited_s=0.3, what="the pool", hint="raise X")
        finally:
            pool.putconn(held)
    finally:
        pool.close()
        admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
        admin.close()
    assert isinstance(refusal, DatabaseUnavailableError), refusal
    assert "back from an outage" in str(refusal) and "raise X" not in str(refusal)
