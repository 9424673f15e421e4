"""The CRM API module's every test again, with PgBouncer (transaction mode) in front of the app role.

Debian's pgbouncer 1.18 does not track named prepared statements, so the app runs with
ATLAS_DB_PREPARED_STATEMENTS=unnamed, the setting docs/scaling.md gives for it: the
one-round-trip reads send the unnamed statement and psycopg prepares nothing. The
bouncer is installed with apt-get when missing (tests/support/pgbouncer.py).
"""
from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from app.devdb.databases import DatabaseFactory
from tests.support import pgbouncer
from tests.support.api import TwoOrgs, build_two_orgs, close_app, make_app
from tests.test_api_crm import *  # noqa: F403  # the module under test, collected again here


@pytest.fixture(scope="module")
def bouncer_db(db_factory: DatabaseFactory) -> Iterator[tuple[object, pgbouncer.Bouncer]]:
    db = db_factory.clone()
    upstream = conninfo_to_dict(db.app_url)
    bouncer = pgbouncer.start(host=str(upstream.get("host", "127.0.0.1")), port=int(upstream.get("port", 5432)),
                              users=[db.roles.app])
    try:
        yield db, bouncer
    finally:
        bouncer.stop()
        db_factory.drop(db.name)


@pytest.fixture(scope="module")
def shared_orgs(bouncer_db) -> Iterator[TwoOrgs]:  # overrides tests/support/api_module.py's
    db, bouncer = bouncer_db
    app = make_app(db, app_database_url=bouncer.url(db.roles.app, db.name), db_prepared_statements="unnamed")
    try:
        yield build_two_orgs(app, db)
    finally:
        close_app(app)


def test_the_app_role_really_goes_through_the_bouncer(bouncer_db, shared_orgs):
    db, bouncer = bouncer_db
    with psycopg.connect(bouncer.url(db.roles.app, db.name), autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (db.roles.app,)
    member = shared_orgs.user("a", "member")
    assert member.get("/api/v1/contacts?limit=5").status_code == 200
    assert "transaction" in (bouncer.directory / "pgbouncer.ini").read_text()
    assert f"user={db.roles.app}" in bouncer.log()  # the app logged in through it
