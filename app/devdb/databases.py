"""One migrated template per run (a test run, a benchmark); each database is a cheap clone of it.

A run gets a unique name prefix, used both for its databases and for its roles
(roles are cluster-wide), so parallel and repeated runs never clash; everything
with the prefix is dropped at the end of the run.
"""
from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count

import psycopg
from psycopg import sql

from app.config import RoleNames
from app.db.connect import open_connection
from app.db.migrate import migrate
from app.devdb.server import Server


@dataclass(frozen=True)
class TestDatabase:
    """A migrated database and the conninfo of each of its roles."""

    name: str
    admin_url: str
    app_url: str
    agent_url: str
    roles: RoleNames
    platform_url: str = ""


class DatabaseFactory:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.prefix = f"atlas_t{os.getpid()}_{secrets.token_hex(3)}"
        self.roles = RoleNames.from_prefix(self.prefix)
        self.template = f"{self.prefix}_tpl"
        self._serial = count(1)
        self._created: list[str] = []

    def _admin(self) -> psycopg.Connection:
        return open_connection("devdb.databases", self.server.admin_url, autocommit=True)

    def describe(self, name: str) -> TestDatabase:
        return TestDatabase(
            name=name,
            admin_url=self.server.url_for(name),
            app_url=self.server.url_for(name, user=self.roles.app),
            agent_url=self.server.url_for(name, user=self.roles.agent),
            roles=self.roles,
            platform_url=self.server.url_for(name, user=self.roles.platform),
        )

    def build_template(self) -> TestDatabase:
        """Create and migrate the run's template (once per run)."""
        with self._admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.template)))
        self._created.append(self.template)
        described = self.describe(self.template)
        migrate(described.admin_url, roles=self.roles)
        return described

    def empty(self) -> TestDatabase:
        """A database with nothing in it (for running the migrations themselves)."""
        name = f"{self.prefix}_{next(self._serial)}"
        with self._admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self._created.append(name)
        return self.describe(name)

    def clone(self) -> TestDatabase:
        """A fresh migrated database: a copy of the template (milliseconds, not a migration)."""
        name = f"{self.prefix}_{next(self._serial)}"
        statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(self.template)
        )
        with self._admin() as conn:
            for attempt in range(50):  # a short read of the template blocks cloning
                try:
                    conn.execute(statement)
                    break
                except psycopg.errors.ObjectInUse:
                    if attempt == 49:
                        raise
                    time.sleep(0.1)
        self._created.append(name)
        described = self.describe(name)
        # Database-level ACLs are not copied from a template; re-apply ours.
        with open_connection("devdb.databases", described.admin_url, autocommit=True) as conn:
            conn.execute("SELECT atlas_meta.apply_database_privileges()")
        return described

    @contextmanager
    def cloned(self) -> Iterator[TestDatabase]:
        """A fresh clone for the length of a `with` block (a module's fixture, say)."""
        db = self.clone()
        try:
            yield db
        finally:
            self.drop(db.name)

    def drop(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        if name in self._created:
            self._created.remove(name)

    def drop_all(self) -> None:
        """Drop every database and role this run created."""
        for name in reversed(list(self._created)):
            self.drop(name)
        with self._admin() as conn:
            for role in (self.roles.app, self.roles.agent, self.roles.platform, self.roles.worker,
                         self.roles.queue, self.roles.owner):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
