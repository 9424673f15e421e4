"""An org's own datasource for tests: a second database in the local cluster with a read-only login role.

It stands in for a customer's PostgreSQL: tables of its own (no org_id), a
role that may only SELECT, and a password Atlas must never reveal. The role
is cluster-wide, so it is named after the run's prefix and dropped with the
database.
"""
from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from app.devdb.databases import DatabaseFactory

SALES_ROWS = 300


@dataclass(frozen=True)
class Datasource:
    dbname: str
    role: str
    password: str
    host: str
    port: int
    admin_url: str

    def allowed(self, *, database: bool = False) -> str:
        """An ATLAS_CONNECTION_ALLOWED_HOSTS entry for this datasource: its host and port (and database)."""
        return f"{self.host}:{self.port}/{self.dbname}" if database else f"{self.host}:{self.port}"

    def url(self, *, password: bool = True, host: str | None = None, port: int | None = None) -> str:
        secret = f":{self.password}" if password else ""
        return f"postgresql://{self.role}{secret}@{host or self.host}:{port or self.port}/{self.dbname}"


@contextmanager
def external_datasource(factory: DatabaseFactory) -> Iterator[Datasource]:
    """A database with `sales` (SALES_ROWS rows) and `payroll`, and a role that may only read them."""
    db = factory.empty()
    role = f"{factory.prefix}_ro_{secrets.token_hex(3)}"
    password = "pw-" + secrets.token_hex(16)
    info = conninfo_to_dict(db.admin_url)
    with psycopg.connect(db.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
        conn.execute("CREATE TABLE sales (id integer PRIMARY KEY, region text NOT NULL,"
                     " amount numeric NOT NULL, note text NOT NULL)")
        conn.execute("INSERT INTO sales SELECT g, (ARRAY['north', 'south', 'east'])[1 + g %% 3], g * 10,"
                     " repeat('x', 200) FROM generate_series(1, %s) g", (SALES_ROWS,))
        conn.execute("CREATE TABLE payroll (id integer PRIMARY KEY, salary integer NOT NULL)")
        conn.execute("INSERT INTO payroll VALUES (1, 100000), (2, 250000)")
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(db.name), sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT SELECT ON sales, payroll TO {}").format(sql.Identifier(role)))
    try:
        yield Datasource(dbname=db.name, role=role, password=password, host=str(info.get("host", "127.0.0.1")),
                         port=int(info.get("port", 5432)), admin_url=db.admin_url)
    finally:
        factory.drop(db.name)
        with psycopg.connect(factory.server.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
