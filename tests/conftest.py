"""Shared test set-up: a PostgreSQL server, one migrated template, fresh clones.

The template is built at session start (before collection) so that tests can
be parametrized from its catalog: the cross-tenant harness enumerates every
table with org_id from the database itself, not from a list in the tests.
"""
from __future__ import annotations

import pytest

from app.devdb.choice import choose, forced_path
from app.devdb.databases import DatabaseFactory, TestDatabase
from app.devdb.server import find_or_start
from tests.support import catalog

# Fixture modules shared by many test modules (api_app, two_orgs, shared_orgs), and the order files run in.
pytest_plugins = ["tests.support.api", "tests.support.api_module", "tests.support.logical", "tests.support.order"]

_state: dict[str, object] = {}


def pytest_report_header(config: pytest.Config) -> str:
    """Which PostgreSQL this run uses, and why (app/devdb/choice.py), at the top of the output."""
    return choose(forced=forced_path()).describe()


def pytest_sessionstart(session: pytest.Session) -> None:
    if session.config.pluginmanager.has_plugin("dsession"):
        return  # the xdist controller runs no test: each worker finds or starts its own server
    server = find_or_start(announce=False)
    factory = DatabaseFactory(server)
    _state["server"] = server
    _state["factory"] = factory
    _state["template"] = factory.build_template()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    factory = _state.get("factory")
    if isinstance(factory, DatabaseFactory):
        factory.drop_all()
    server = _state.get("server")
    if server is not None and getattr(server, "stop", None):
        server.stop()  # type: ignore[union-attr]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`tenant_table` parametrizes over every table with org_id in the migrated schema."""
    if "tenant_table" in metafunc.fixturenames:
        template = _state["template"]
        assert isinstance(template, TestDatabase)
        tables = catalog.tenant_tables(template.admin_url)
        metafunc.parametrize("tenant_table", tables, ids=tables)


@pytest.fixture(scope="session")
def db_factory() -> DatabaseFactory:
    factory = _state["factory"]
    assert isinstance(factory, DatabaseFactory)
    return factory


@pytest.fixture(scope="session")
def template_db() -> TestDatabase:
    """The migrated template: read it briefly (an open connection blocks cloning), never write."""
    template = _state["template"]
    assert isinstance(template, TestDatabase)
    return template


@pytest.fixture
def fresh_db(db_factory: DatabaseFactory):
    """A migrated database of this test's own, dropped afterwards."""
    db = db_factory.clone()
    yield db
    db_factory.drop(db.name)


@pytest.fixture
def empty_db(db_factory: DatabaseFactory):
    """An unmigrated database of this test's own, dropped afterwards."""
    db = db_factory.empty()
    yield db
    db_factory.drop(db.name)
