"""The in-flight limiter and a transaction-mode PgBouncer (docs/scaling.md).

Its slots are session advisory locks, so its connection must keep one server
session. Through a transaction-mode bouncer it would not: the limiter refuses
loudly, naming ATLAS_INFLIGHT_DATABASE_URL, before it leaves a lock on a server
session the bouncer lends to someone else; given that setting, it holds the
limit while the app role goes through the bouncer. The bouncer is installed
with apt-get when missing (tests/support/pgbouncer.py).
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from app.devdb import databases
from app.devdb.databases import DatabaseFactory
from app.errors.configuration import ConfigurationError
from app.errors.limits import TooManyConcurrentQueriesError
from app.http.context import services
from app.limits.inflight import InflightLimiter
from tests.support import pgbouncer
from tests.support.api import close_app, make_app


@pytest.fixture(scope="module")
def bounced(db_factory: DatabaseFactory) -> Iterator[tuple[databases.TestDatabase, pgbouncer.Bouncer]]:
    db = db_factory.clone()
    upstream = conninfo_to_dict(db.app_url)
    bouncer = pgbouncer.start(host=str(upstream.get("host", "127.0.0.1")), port=int(upstream.get("port", 5432)),
                              users=[db.roles.app], pool_size=2)
    try:
        yield db, bouncer
    finally:
        bouncer.stop()
        db_factory.drop(db.name)


def _advisory_locks(db: databases.TestDatabase) -> int:
    with psycopg.connect(db.admin_url) as conn:
        row = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database ="
                           " (SELECT oid FROM pg_database WHERE datname = current_database())").fetchone()
    return int(row[0]) if row else 0


def test_a_limiter_whose_session_is_swapped_by_the_bouncer_refuses_naming_the_setting(bounced):
    db, bouncer = bounced
    url = bouncer.url(db.roles.app, db.name)
    limiter = InflightLimiter(url, process_threads=4)
    try:
        org = uuid.uuid4()
        with limiter.slot(org, limit=2):  # its session is the bouncer's only server connection so far
            locks = _advisory_locks(db)
            with psycopg.connect(url) as other, other.transaction():
                other.execute("SELECT 1")  # holds that server connection: the limiter's next statement gets another
                with pytest.raises(ConfigurationError, match="ATLAS_INFLIGHT_DATABASE_URL"), limiter.slot(org, limit=2):
                    pass
            assert _advisory_locks(db) == locks, "no lock was taken on the swapped-in session"
    finally:
        limiter.close()


def test_with_a_direct_url_of_its_own_the_limit_holds_while_the_app_goes_through_the_bouncer(bounced):
    db, bouncer = bounced
    app = make_app(db, app_database_url=bouncer.url(db.roles.app, db.name), db_prepared_statements="unnamed",
                   inflight_database_url=db.app_url)
    try:
        limiter = services(app).inflight
        org = uuid.uuid4()
        before = _advisory_locks(db)
        with limiter.slot(org, limit=1):
            assert _advisory_locks(db) == before + 1
            with pytest.raises(TooManyConcurrentQueriesError), limiter.slot(org, limit=1):
                pass
        assert _advisory_locks(db) == before  # released in the session that took it
        with limiter.slot(org, limit=1):
            pass
    finally:
        close_app(app)
