"""The migration runner: applies sql/NNN_*.sql in order, once each, and remembers.

Each file runs in its own transaction, as the connecting (admin) role; files that
create objects switch to the owner role themselves. Applied files are recorded
with a SHA-256 of their text; an applied file that has since been edited is
refused rather than silently skipped. Running again applies nothing new.
"""
from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from app.config import RoleNames
from app.db.connect import open_connection
from app.errors.database import MigrationError

log = logging.getLogger("atlas.migrate")

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
_FILE_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
# psql's variable syntax: :"name" is an identifier, :'name' a literal. A
# preceding colon (a ::"char" cast) is not a variable.
_VARIABLE = re.compile(r"""(?<!:):(?:"(\w+)"|'(\w+)')""")
_LOCK_KEY = 0x41746C61  # "Atla": one migrator per database at a time

_BOOTSTRAP = sql.SQL(
    """
    CREATE SCHEMA IF NOT EXISTS atlas_meta;
    CREATE TABLE IF NOT EXISTS atlas_meta.schema_migrations (
        version    text PRIMARY KEY,
        filename   text NOT NULL,
        checksum   text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
    );
    REVOKE ALL ON atlas_meta.schema_migrations FROM PUBLIC;
    """
)


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(sql_dir: Path = SQL_DIR) -> list[Migration]:
    """The migration files in order; a stray or duplicate-numbered file is an error."""
    found: dict[str, Migration] = {}
    for path in sorted(sql_dir.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNN_lowercase_name.sql")
        version = match.group(1)
        if version in found:
            raise MigrationError(f"{path.name} and {found[version].path.name} share version {version}")
        found[version] = Migration(version, path)
    return [found[v] for v in sorted(found)]


def render(text: str, variables: Mapping[str, str], conn: psycopg.Connection) -> str:
    """Fill :"var" / :'var' with properly quoted values; unknown names are errors."""

    def replace(match: re.Match[str]) -> str:
        ident, literal = match.groups()
        name = ident or literal
        if name not in variables:
            raise MigrationError(f"unknown migration variable {name!r}")
        value = variables[name]
        quoted = sql.Identifier(value) if ident else sql.Literal(value)
        return quoted.as_string(conn)

    return _VARIABLE.sub(replace, text)


POLICY_FORMS = ("subquery", "citus")


def migrate(admin_url: str, *, roles: RoleNames, sql_dir: Path = SQL_DIR,
            policy_form: str | None = None) -> list[str]:
    """Apply pending migrations; return the file names applied (empty when up to date).

    Then every policy is put in the database's policy form (sql/120_policy_form.sql):
    `policy_form` when given (and remembered), else the one recorded, so policies that
    later migrations add follow it.
    Raises MigrationError for an edited applied file or a failing migration (whose
    transaction is rolled back, so the database is left at the previous version).
    """
    if policy_form is not None and policy_form not in POLICY_FORMS:
        raise MigrationError(f"--policy-form must be one of {', '.join(POLICY_FORMS)}, not {policy_form!r}")
    migrations = discover(sql_dir)
    applied_now: list[str] = []
    with open_connection("migrate", admin_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(_BOOTSTRAP)
            applied: dict[str, str] = dict(
                conn.execute("SELECT version, checksum FROM atlas_meta.schema_migrations").fetchall()
            )
            for migration in migrations:
                if migration.version in applied:
                    if applied[migration.version] != migration.checksum:
                        raise MigrationError(
                            f"{migration.path.name} was edited after it was applied; "
                            "add a new migration instead of changing an applied one"
                        )
                    continue
                _apply(conn, migration, roles)
                applied_now.append(migration.path.name)
            _apply_policy_form(conn, policy_form)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now


def _apply_policy_form(conn: psycopg.Connection, form: str | None) -> None:
    """Rewrite the policies into `form` (or the recorded form); a no-op when they are in it already."""
    if conn.execute("SELECT to_regprocedure('atlas_meta.set_policy_form(text)')").fetchone() == (None,):
        if form == "citus":
            raise MigrationError("this database has no policy forms yet (sql/120_policy_form.sql)")
        return
    with conn.transaction():
        if form is None:
            form = conn.execute("SELECT form FROM atlas_meta.policy_form").fetchone()[0]  # type: ignore[index]
        changed = conn.execute("SELECT atlas_meta.set_policy_form(%s)", (form,)).fetchone()
    if changed and changed[0]:
        log.info("policy form %s: %s policies rewritten", form, changed[0])


def _apply(conn: psycopg.Connection, migration: Migration, roles: RoleNames) -> None:
    statement = render(migration.text, roles.as_variables(), conn)
    try:
        with conn.transaction():
            conn.execute(statement.encode())
            conn.execute("RESET ROLE")  # files may SET LOCAL ROLE to the owner
            conn.execute(
                "INSERT INTO atlas_meta.schema_migrations (version, filename, checksum)"
                " VALUES (%s, %s, %s)",
                (migration.version, migration.path.name, migration.checksum),
            )
    except psycopg.Error as exc:
        raise MigrationError(f"{migration.path.name} failed: {exc}") from exc
    log.info("applied %s", migration.path.name)


def pending(admin_url: str, *, sql_dir: Path = SQL_DIR) -> list[str]:
    """File names not yet applied (for `atlas migrate --status`)."""
    with open_connection("migrate", admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('atlas_meta.schema_migrations')").fetchone()
        done: set[str] = set()
        if exists and exists[0]:
            done = {r[0] for r in conn.execute("SELECT version FROM atlas_meta.schema_migrations")}
    return [m.path.name for m in discover(sql_dir) if m.version not in done]
