"""`atlas org import FILE`: an org's archive (app/orgdata/archive.py) into this Atlas, ids preserved.

The archive is read as a stream into a private temporary directory, then
checked before anything is written: the manifest's format, each file's sha256
and row count, that this Atlas has every migration the source had and every
column of every table, and that nothing clashes (the org's id or slug, a user's
id or email). Then one transaction writes every table with COPY, verifies each
table's checksum of rows against the manifest and audits the import; a clash
found only then (a unique key) rolls everything back.

Users arrive without a password (the archive never carries hashes): they set a
new one with the password-reset flow. A user this Atlas already has (same id
and email) is reused.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from app.db.connect import open_connection
from app.errors.operations import OrgDataError
from app.orgdata.archive import FORMAT, MANIFEST, ORG_COLUMNS, USER_COLUMNS, MemberUsers, OrgRow
from app.orgdata.operator import who
from app.orgdata.tables import control_tables
from app.placement.mirror import NO_PASSWORD
from app.placement.tables import Table, checksum, placed_tables, stable_output

TABLE_FILE = re.compile(r"^tables/([a-z_][a-z0-9_]{0,62})\.copy$")
CHUNK = 1024 * 1024
NOT_AN_EXPORT = "is not an Atlas org export ({}): give a file written by atlas org export"


@contextmanager
def unpacked(stream: IO[bytes], label: str) -> Iterator[tuple[dict[str, Any], Path]]:
    """The archive's manifest and a directory holding its verified table files (removed afterwards)."""
    workdir = Path(tempfile.mkdtemp(prefix="atlas-import-"))
    try:
        hashes = _extract(stream, label, workdir)
        try:
            manifest = json.loads((workdir / MANIFEST).read_text())
        except (OSError, ValueError):
            raise OrgDataError(f"{label} " + NOT_AN_EXPORT.format("no readable manifest.json")) from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise OrgDataError(f"{label} " + NOT_AN_EXPORT.format(f"format is not {FORMAT}"))
        for name, entry in manifest["tables"].items():
            if name not in hashes:
                raise OrgDataError(f"{label} is incomplete: tables/{name}.copy is missing (export it again)")
            if hashes[name] != (entry["sha256"], entry["rows"]):
                raise OrgDataError(f"{label} is damaged: tables/{name}.copy does not match its sha256 or row"
                                   " count in the manifest (export it again)")
        yield manifest, workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _extract(stream: IO[bytes], label: str, workdir: Path) -> dict[str, tuple[str, int]]:
    hashes: dict[str, tuple[str, int]] = {}
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                found = TABLE_FILE.match(member.name)
                if not member.isfile() or (member.name != MANIFEST and found is None):
                    raise OrgDataError(f"{label} " + NOT_AN_EXPORT.format(f"unexpected entry {member.name!r}"))
                source = tar.extractfile(member)
                assert source is not None  # a regular file
                digest, rows = hashlib.sha256(), 0
                target = workdir / ("manifest.json" if found is None else f"{found.group(1)}.copy")
                with target.open("wb") as out:
                    while chunk := source.read(CHUNK):
                        digest.update(chunk)
                        rows += chunk.count(b"\n")
                        out.write(chunk)
                if found is not None:
                    hashes[found.group(1)] = (digest.hexdigest(), rows)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise OrgDataError(f"{label} " + NOT_AN_EXPORT.format(f"not a complete tar.gz: {exc}")) from None
    return hashes


def _table(name: str, columns: list[str], append_only: bool) -> Table:
    if name == "organizations":
        return OrgRow(name, tuple(columns))
    if name == "users":
        return MemberUsers(name, tuple(columns))
    return Table(name, tuple(columns), append_only)


def _check(conn: psycopg.Connection, manifest: dict[str, Any], org: uuid.UUID, workdir: Path, *,
           app_role: str) -> None:
    """OrgDataError for whatever would stop the import, before anything is written."""
    allowed = {"organizations", "users", *(t.name for t in control_tables(conn)),
               *(t.name for t in placed_tables(conn, app_role=app_role))}
    strays = sorted(set(manifest["tables"]) - allowed)
    if strays or sorted(manifest["order"]) != sorted(manifest["tables"]):
        raise OrgDataError(f"refused: the archive writes {', '.join(strays) or 'tables out of its own list'},"
                           " which no org owns: give a file written by atlas org export")
    have = {r[0] for r in conn.execute("SELECT version FROM atlas_meta.schema_migrations")}
    newer = sorted(set(manifest.get("migrations", [])) - have)
    if newer:
        raise OrgDataError(f"the export comes from a newer Atlas (migration {newer[0]}): run atlas migrate here first")
    for name, entry in manifest["tables"].items():
        cols = {r[0] for r in conn.execute(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0"
            " AND NOT attisdropped", (f"public.{name}",))}
        missing = sorted(set(entry["columns"]) - cols)
        if missing:
            raise OrgDataError(f"this Atlas has no {name}.{missing[0]}: run atlas migrate here (or export from an"
                               " Atlas at the same version)")
    if conn.execute("SELECT 1 FROM organizations WHERE id = %s", (org,)).fetchone():
        raise OrgDataError(f"refused: organization {org} already exists in this Atlas (ids are preserved);"
                           " import into an Atlas without it, or delete and purge it here first")
    slug = _org_row(workdir)["slug"]
    if conn.execute("SELECT 1 FROM organizations WHERE slug = %s", (slug,)).fetchone():
        raise OrgDataError(f"refused: another organization here has the slug {slug!r}; rename one first")
    for user_id, email in _user_ids(conn, workdir):
        clash = conn.execute("SELECT id, email FROM users WHERE (id = %s) <> (email = %s)"
                             " AND (id = %s OR email = %s)", (user_id, email, user_id, email)).fetchone()
        if clash:
            raise OrgDataError(f"refused: user {email} ({user_id}) clashes with user {clash[1]} ({clash[0]}) here;"
                               " ids and emails must match or be new")


def _org_row(workdir: Path) -> dict[str, str]:
    line = (workdir / "organizations.copy").read_text().rstrip("\n").split("\t")
    return dict(zip(ORG_COLUMNS, line, strict=False))


def _user_ids(conn: psycopg.Connection, workdir: Path) -> list[tuple[str, str]]:
    lines = (workdir / "users.copy").read_text().splitlines()
    index_id, index_email = USER_COLUMNS.index("id"), USER_COLUMNS.index("email")
    return [(line.split("\t")[index_id], line.split("\t")[index_email]) for line in lines]


def _copy_in(conn: psycopg.Connection, table: Table, path: Path, *, into_name: str | None = None) -> int:
    """COPY the file into the table; returns the rows written."""
    target = table.ident if into_name is None else sql.Identifier(into_name)
    into = sql.SQL("COPY {} ({}) FROM STDIN").format(target, table.cols)
    cursor = conn.cursor()
    with cursor.copy(into) as writing, path.open("rb") as source:
        while chunk := source.read(CHUNK):
            writing.write(chunk)
    return cursor.rowcount


def _copy_users(conn: psycopg.Connection, table: Table, path: Path) -> None:
    conn.execute(sql.SQL("CREATE TEMP TABLE import_users ON COMMIT DROP AS SELECT {} FROM users WITH NO DATA")
                 .format(table.cols))
    _copy_in(conn, table, path, into_name="import_users")
    conn.execute(sql.SQL("INSERT INTO users ({}, password_hash) SELECT {}, %s FROM import_users i"
                         " WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = i.id)").format(table.cols, table.cols),
                 (NO_PASSWORD,))


def import_org(control_url: str, manifest: dict[str, Any], workdir: Path, *, app_role: str) -> dict[str, int]:
    """Write the unpacked archive into this Atlas's shared database; returns rows per table."""
    org = uuid.UUID(manifest["org"])
    with open_connection("orgdata.importing", control_url, autocommit=True) as conn:
        stable_output(conn)
        _check(conn, manifest, org, workdir, app_role=app_role)
        conn.execute("SET session_replication_role = replica")  # rows arrive parents first; no triggers
        try:
            with conn.transaction():
                counts = _write(conn, manifest, org, workdir)
        except psycopg.errors.UniqueViolation as exc:
            raise OrgDataError(f"refused: a row clashes with this Atlas ({exc.diag.table_name}:"
                               f" {exc.diag.constraint_name}); ids are preserved, nothing was imported") from None
    return counts


def _write(conn: psycopg.Connection, manifest: dict[str, Any], org: uuid.UUID, workdir: Path) -> dict[str, int]:
    counts = {}
    for name in manifest["order"]:
        entry = manifest["tables"][name]
        table = _table(name, entry["columns"], bool(entry.get("append_only")))
        if name == "users":
            _copy_users(conn, table, workdir / f"{name}.copy")
            continue
        written = _copy_in(conn, table, workdir / f"{name}.copy")
        count, rows_checksum = checksum(conn, table, org)
        if written != count:  # a row of another org (or org id) in the file
            raise OrgDataError(f"refused: {name} holds {written - count} rows that are not org {org}'s;"
                               " nothing was imported")
        if (count, rows_checksum) != (entry["rows"], entry["checksum"]):
            raise OrgDataError(f"{name}: {count} rows imported ({rows_checksum}), the manifest says {entry['rows']}"
                               f" ({entry['checksum']}); nothing was imported")
        counts[name] = count
    strangers = conn.execute("SELECT count(*) FROM import_users i WHERE NOT EXISTS (SELECT 1 FROM members m"
                             " WHERE m.org_id = %s AND m.user_id = i.id)", (org,)).fetchone()
    if strangers and strangers[0]:
        raise OrgDataError(f"refused: {strangers[0]} users of the archive are no members of org {org};"
                           " nothing was imported")
    detail = {"from_export": manifest.get("exported_at"), **who(), "rows": counts}
    conn.execute("INSERT INTO audit_log (org_id, action, entity, entity_id, outcome, detail)"
                 " VALUES (%s, 'organization.import', 'organization', %s, 'ok', %s)", (org, str(org), Jsonb(detail)))
    conn.execute("INSERT INTO platform_audit (actor_user_id, action, target_org_id, detail)"
                 " VALUES (NULL, 'organization.import', %s, %s)", (org, Jsonb(detail)))
    return counts
