"""A request that matches no route answers 404/405 without touching the database, session or not.

A scanner replaying a stolen token against made-up paths must cost no round trip: the identity
hook resolves a session only for a matched endpoint (app/auth/identity.py). Proved with the database
refusing every connection: the unrouted request still answers at once, while the same token on
a real endpoint (the control) needs the database and gets a 503.
"""
from __future__ import annotations

import time

import psycopg
import pytest
from psycopg import sql

from tests.support import errors
from tests.support.api import close_app as close
from tests.support.api import create_org, make_app, sign_up


@pytest.fixture
def cut_off(fresh_db):
    """An app with a signed-in owner, then a database that refuses connections and has none open."""
    app = make_app(fresh_db, pool_timeout_s=1.0)
    owner = sign_up(app, "owner@unrouted.test")
    create_org(owner, "Unrouted", "unrouted")
    maintenance = psycopg.conninfo.make_conninfo(fresh_db.admin_url, dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(fresh_db.name)))
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                      " WHERE datname = %s AND pid <> pg_backend_pid()", (fresh_db.name,))
    try:
        yield owner
    finally:
        close(app)
        with psycopg.connect(maintenance, autocommit=True) as admin:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(fresh_db.name)))


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/api/v1/no-such-thing", 404),
    ("POST", "/api/v1/contacts/not/a/route", 404),
    ("GET", "/no-such-page.php", 404),
    ("DELETE", "/api/v1/contacts", 405),
])
def test_an_unrouted_request_with_a_bearer_session_answers_without_the_database(cut_off, method, path, status):
    started = time.monotonic()
    r = cut_off.client.open(path, method=method, headers={"Authorization": f"Bearer {cut_off.token}"})
    assert r.status_code == status, r.get_data(as_text=True)
    if path.startswith("/api/"):
        assert errors.error_code(r) in ("not_found", "method_not_allowed")
    else:  # a path outside the API is the console's: its 404 page, rendered without the database too
        assert r.mimetype == "text/html" and "Page not found (404)" in r.get_data(as_text=True)
    assert time.monotonic() - started < 0.5  # no wait for a connection either
    control = cut_off.get("/api/v1/contacts?limit=1")  # the same token on a real endpoint needs the database
    assert control.status_code == 503, control.get_json()
