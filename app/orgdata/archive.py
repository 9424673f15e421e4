"""`atlas org export ORG`: every row the org owns, as a streamed tar archive with a manifest.

The archive (tar, gzip) holds one COPY text file per table (`tables/<name>.copy`)
and, last, `manifest.json`: the org, the source's migrations, and per table its
columns, row count, the file's sha256 and the move's checksum of the rows
(app/placement/tables.py), which `atlas org import` verifies on both sides.

Tables come from the catalog: the org row, the users who are its members
(without password hashes: an imported user sets a new password), the control
tables (members, invitations) and every placed table, read where the org lives
(its dedicated database, if any), each database under one snapshot.
"""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

import psycopg
from psycopg import sql

from app.db.connect import open_connection
from app.orgdata.tables import control_tables
from app.placement.locations import org_location, role_conninfo
from app.placement.tables import Table, checksum, placed_tables, stable_output

FORMAT = "atlas-org-export/1"
MANIFEST = "manifest.json"
SPOOL_BYTES = 8 * 1024 * 1024  # a table's file is kept in memory up to this, then on disk
ORG_COLUMNS = ("id", "name", "slug", "logo", "metadata", "created_at")
USER_COLUMNS = ("id", "email", "name", "email_verified", "created_at", "updated_at")


class OrgRow(Table):
    """The organizations row, keyed by id (it has no org_id)."""

    def where(self, org: uuid.UUID) -> sql.Composable:
        return sql.SQL("id = {}").format(sql.Literal(str(org)))


class MemberUsers(Table):
    """The users who are members of the org (never their password hashes)."""

    def where(self, org: uuid.UUID) -> sql.Composable:
        return sql.SQL("id IN (SELECT user_id FROM public.members WHERE org_id = {})").format(sql.Literal(str(org)))


def identity_tables() -> list[Table]:
    return [OrgRow("organizations", ORG_COLUMNS), MemberUsers("users", USER_COLUMNS)]


@contextmanager
def snapshot(url: str) -> Iterator[psycopg.Connection]:
    with open_connection("orgdata.archive", url, autocommit=True) as conn:
        stable_output(conn)
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield conn


def _spool(conn: psycopg.Connection, table: Table, org: uuid.UUID) -> tuple[IO[bytes], dict[str, Any]]:
    """The org's rows of `table` in COPY text form (sorted, so the same rows give the same file)."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115  # closed by the caller
    digest, rows = hashlib.sha256(), 0
    select = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {}").format(
        table.cols, table.ident, table.where(org), table.row_hash())
    with conn.cursor().copy(sql.SQL("COPY ({}) TO STDOUT").format(select)) as reading:
        for block in reading:
            data = bytes(block)
            digest.update(data)
            rows += data.count(b"\n")
            spool.write(data)
    count, rows_checksum = checksum(conn, table, org)
    if count != rows:
        raise AssertionError(f"{table.name}: {count} rows but {rows} lines")  # COPY text: one line per row
    size = spool.tell()
    spool.seek(0)
    return spool, {"columns": list(table.columns), "rows": rows, "bytes": size, "sha256": digest.hexdigest(),
                   "checksum": rows_checksum, "append_only": table.append_only}


def _add(tar: tarfile.TarFile, name: str, fileobj: IO[bytes], size: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(time.time()), 0o600
    tar.addfile(info, fileobj)


def export_org(control_url: str, org: uuid.UUID, out: IO[bytes], *, app_role: str) -> dict[str, Any]:
    """Write the org's archive to `out` (a stream: nothing is seeked); returns the manifest."""
    location = org_location(control_url, org)
    placed_url = control_url if location is None else role_conninfo(control_url, location)
    manifest: dict[str, Any] = {"format": FORMAT, "org": str(org), "exported_at": datetime.now(UTC).isoformat(),
                                "tables": {}}
    with tarfile.open(fileobj=out, mode="w|gz") as tar, snapshot(control_url) as control:
        manifest["migrations"] = [r[0] for r in control.execute(
            "SELECT version FROM atlas_meta.schema_migrations ORDER BY version")]
        manifest["order"] = []
        with snapshot(placed_url) if location else _same(control) as placed:
            work = [(control, t) for t in [*identity_tables(), *control_tables(control)]]
            work += [(placed, t) for t in placed_tables(placed, app_role=app_role)]
            for conn, table in work:
                spool, entry = _spool(conn, table, org)
                with spool:
                    _add(tar, f"tables/{table.name}.copy", spool, entry["bytes"])
                manifest["tables"][table.name] = entry
                manifest["order"].append(table.name)
        body = json.dumps(manifest, indent=2, sort_keys=True).encode()
        _add(tar, MANIFEST, io.BytesIO(body), len(body))
    return manifest


@contextmanager
def _same(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    yield conn
