"""app/db/checked_pool.py: the pool checks what it gets back and never lends it in an unknown state."""
from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg_pool import PoolClosed, PoolTimeout

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


# The short paths of getconn and putconn (an idle connection lent at once, a clean one put straight back)
# must keep what psycopg_pool's own paths promise: counted requests, waiting clients served, dead and
# expired connections replaced, a zero timeout refused.

def test_a_connection_given_back_goes_to_a_client_waiting_for_it(pool) -> None:
    held = pool.getconn()
    pid = held.info.backend_pid
    got: list[int] = []
    waiter = threading.Thread(target=lambda: got.append(_pid_and_return(pool)))
    waiter.start()
    time.sleep(0.3)  # the waiter is queued: the pool's only connection is lent
    assert pool.get_stats().get("requests_waiting") == 1
    pool.putconn(held)
    waiter.join(timeout=5)
    assert got == [pid]
    stats = pool.get_stats()
    assert stats["requests_waiting"] == 0 and stats["pool_available"] == 1


def _pid_and_return(pool: CheckedPool) -> int:
    conn = pool.getconn(timeout=5)
    try:
        return conn.info.backend_pid
    finally:
        pool.putconn(conn)


def test_every_lending_is_counted_and_the_connection_comes_back_idle(pool) -> None:
    before = pool.get_stats().get("requests_num", 0)
    for _ in range(5):
        conn = pool.getconn()
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        pool.putconn(conn)
    stats = pool.get_stats()
    assert stats["requests_num"] - before == 5 and stats["pool_available"] == 1
    with pytest.raises(ValueError, match="doesn't come from any pool"):
        pool.putconn(conn)  # given back twice: psycopg_pool's refusal, not a second idle copy
    assert pool.get_stats()["pool_available"] == 1


def test_a_connection_whose_backend_died_is_replaced_before_it_is_lent(pool, database) -> None:
    with pool.connection() as conn:
        pid = conn.info.backend_pid
    with psycopg.connect(database.admin_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
    with pool.connection(timeout=5) as conn:
        assert conn.info.backend_pid != pid
        assert wire.scoped_read(conn, uuid.uuid4(), "SELECT 1 AS one") == [{"one": 1}]


def test_a_connection_past_its_lifetime_is_closed_when_given_back(database) -> None:
    pool = CheckedPool(database.app_url, min_size=1, max_size=1, timeout=5, max_lifetime=0.5,
                       kwargs={"autocommit": True}, open=False)
    pool.open(wait=True)
    try:
        conn = pool.getconn()
        pid = conn.info.backend_pid
        time.sleep(0.6)
        pool.putconn(conn)
        assert conn.closed
        with pool.connection(timeout=5) as again:
            assert again.info.backend_pid != pid
    finally:
        pool.close()


def test_no_time_left_times_out_even_with_an_idle_connection(pool) -> None:
    with pytest.raises(PoolTimeout):
        pool.getconn(timeout=0)
    with pool.connection(timeout=1) as conn:  # and the idle connection is still there
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_closed_pool_lends_nothing(database) -> None:
    pool = CheckedPool(database.app_url, min_size=1, max_size=1, timeout=5, kwargs={"autocommit": True},
                       open=False)
    with pytest.raises(PoolClosed, match="not open yet"):
        pool.getconn()
    pool.open(wait=True)
    conn = pool.getconn()
    pool.putconn(conn)
    pool.close()
    with pytest.raises(PoolClosed, match="already closed"):
        pool.getconn()
