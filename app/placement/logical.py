"""An org's rows streamed by PostgreSQL's logical replication: the publication, slot and subscription of a move.

The source publishes every placed table with a row filter on the org
(`FOR TABLE t WHERE (org_id = '...')`, valid because every primary key, the
default replica identity, includes org_id) plus the org's row of
atlas_meta.move_marks; the target subscribes with `copy_data = true`. The slot
is created in the source before the subscription (`create_slot = false`): a
subscription that creates its slot hangs when source and target share a
cluster, and a slot made first has a name that abort and resume can find. All
three objects are named from the org id alone (`atlas_move_<hex>`), so a move
killed at any step leaves nothing that `teardown` does not find by name.

A leaked slot keeps every WAL segment of the source from its position on (the
source's disk fills): every path out of a move (success, --abort, rerun)
calls `teardown`, and tests/test_placement.py asserts that pg_replication_slots,
pg_publication and pg_subscription hold nothing of a move after each.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import psycopg
from psycopg import sql

from app.errors.operations import MoveError
from app.placement.tables import Table

Say = Callable[[str], None]

SYNC_WORKERS = 2  # max_sync_workers_per_subscription's default: each table copy takes a slot and a sender
COPY_TIMEOUT_S = 3600.0
APPLY_TIMEOUT_S = 60.0  # with the org's writes held, as long as the hold's lock_timeout
POLL_S = 0.005


def name_of(org: uuid.UUID) -> str:
    """The publication's, slot's and subscription's name: 43 characters of [a-z0-9_]."""
    return f"atlas_move_{org.hex}"


def require_logical(source: psycopg.Connection) -> None:
    """MoveError unless the source can stream: wal_level logical and a free slot and sender per copy worker."""
    settings: dict[str, str] = dict(source.execute(
        "SELECT name, setting FROM pg_settings WHERE name IN ('wal_level', 'max_replication_slots',"
        " 'max_wal_senders')").fetchall())
    if settings.get("wal_level") != "logical":
        raise MoveError(
            f"the source database's server has wal_level = {settings.get('wal_level')}; an org move streams the"
            " org's rows by logical replication and needs wal_level = logical: run `ALTER SYSTEM SET wal_level ="
            " logical` on it and restart it, or move by snapshot copy with `atlas org move --copy`"
            " (writes are held longer: docs/placement.md)")
    row = source.execute("SELECT (SELECT count(*) FROM pg_replication_slots),"
                         " (SELECT count(*) FROM pg_stat_replication)").fetchone()
    assert row is not None
    need = 1 + SYNC_WORKERS
    slots, senders = int(settings["max_replication_slots"]), int(settings["max_wal_senders"])
    if slots - int(row[0]) < need or senders - int(row[1]) < need:
        raise MoveError(
            f"the source's server has max_replication_slots = {slots} ({row[0]} in use) and max_wal_senders ="
            f" {senders} ({row[1]} in use); a move needs {need} free of each: raise them (restart) or wait")


def check_identity(source: psycopg.Connection, tables: list[Table]) -> None:
    """MoveError unless each table's replica identity (its primary key) covers org_id, as row filters need."""
    rows = source.execute(
        """
        SELECT c.relname::text FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY(%s)
          AND NOT (c.relreplident = 'd' AND EXISTS (
                SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
                WHERE i.indrelid = c.oid AND i.indisprimary AND a.attname = 'org_id'))
        """, ([t.name for t in tables],)).fetchall()
    if rows:
        raise MoveError(f"tables whose primary key (replica identity) lacks org_id: {', '.join(r[0] for r in rows)};"
                        " a row filter on org_id needs it: add org_id to their primary keys in a migration")


def subscribe(source: psycopg.Connection, target: psycopg.Connection, tables: list[Table], org: uuid.UUID,
              *, source_conninfo: str) -> None:
    """The org's publication and slot in the source, its subscription in the target (copying from now on).

    `source_conninfo` is stored in the target's pg_subscription (readable by superusers only) and never
    printed or audited.
    """
    name = name_of(org)
    org_text = sql.Literal(str(org))
    members = [sql.SQL("{} WHERE (org_id = {})").format(t.ident, org_text) for t in tables]
    members.append(sql.SQL("{} WHERE (organization_id = {})").format(
        sql.Identifier("atlas_meta", "move_marks"), org_text))
    # No truncate: a TRUNCATE in the source would empty the table for every org in the target.
    source.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLE {} WITH (publish = 'insert, update, delete')").format(
        sql.Identifier(name), sql.SQL(", ").join(members)))
    source.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (name,))
    target.execute(sql.SQL(
        "CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {}"
        " WITH (create_slot = false, slot_name = {}, copy_data = true, enabled = true)").format(
        sql.Identifier(name), sql.Literal(source_conninfo), sql.Identifier(name), sql.Literal(name)))


def _failures(target: psycopg.Connection, name: str) -> int:
    row = target.execute("SELECT apply_error_count + sync_error_count FROM pg_stat_subscription_stats"
                         " WHERE subname = %s", (name,)).fetchone()
    return int(row[0]) if row else 0


def wait_copied(target: psycopg.Connection, org: uuid.UUID, say: Say, *, timeout_s: float = COPY_TIMEOUT_S) -> None:
    """Until every table of the subscription is copied and streaming (state 'r'); MoveError on failures."""
    name = name_of(org)
    deadline = time.monotonic() + timeout_s
    while True:
        row = target.execute(
            "SELECT count(*), count(*) FILTER (WHERE r.srsubstate = 'r') FROM pg_subscription_rel r"
            " JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = %s", (name,)).fetchone()
        assert row is not None
        if row[0] and row[0] == row[1]:
            say(f"copied and streaming: {row[0]} tables")
            return
        failed = _failures(target, name)
        if failed:
            raise MoveError(f"the target's subscription {name} failed {failed} times while copying: see the target"
                            " server's log; rerun the move, or abort it")
        if time.monotonic() > deadline:
            raise MoveError(f"{row[1]} of {row[0]} tables copied after {timeout_s:.0f} s: rerun the move to go on")
        time.sleep(0.1)


def mark(source: psycopg.Connection, org: uuid.UUID) -> str:
    """Write the source's current LSN as the org's mark (it travels through the publication); returns it."""
    row = source.execute("INSERT INTO atlas_meta.move_marks (organization_id, lsn) VALUES (%s, pg_current_wal_lsn())"
                         " ON CONFLICT (organization_id) DO UPDATE SET lsn = pg_current_wal_lsn(), marked_at = now()"
                         " RETURNING lsn::text", (org,)).fetchone()
    assert row is not None
    return str(row[0])


def wait_applied(target: psycopg.Connection, org: uuid.UUID, lsn: str, *, timeout_s: float = APPLY_TIMEOUT_S) -> None:
    """Until the target has applied the mark at `lsn`, and with it every change of the org committed before."""
    name = name_of(org)
    deadline = time.monotonic() + timeout_s
    while True:
        row = target.execute("SELECT lsn >= %s::pg_lsn FROM atlas_meta.move_marks WHERE organization_id = %s",
                             (lsn, org)).fetchone()
        if row is not None and row[0]:
            return
        failed = _failures(target, name)
        if failed:
            raise MoveError(f"the target's subscription {name} failed {failed} times applying changes: see the"
                            " target server's log; nothing was switched")
        if time.monotonic() > deadline:
            raise MoveError(f"the target had not applied the source's LSN {lsn} after {timeout_s:.0f} s;"
                            " nothing was switched: rerun the move")
        time.sleep(POLL_S)


def teardown(source: psycopg.Connection, target: psycopg.Connection, org: uuid.UUID) -> None:
    """Drop the move's subscription, slot(s) and publication wherever they are; nothing if there are none."""
    name = name_of(org)
    row = target.execute("SELECT oid FROM pg_subscription WHERE subname = %s AND subdbid ="
                         " (SELECT oid FROM pg_database WHERE datname = current_database())", (name,)).fetchone()
    if row is not None:
        try:  # drops the slot in the source too, and the table-copy slots
            target.execute(sql.SQL("DROP SUBSCRIPTION {}").format(sql.Identifier(name)))
        except psycopg.OperationalError:  # the source does not answer: detach the slot, drop it below
            target.execute(sql.SQL("ALTER SUBSCRIPTION {} DISABLE").format(sql.Identifier(name)))
            target.execute(sql.SQL("ALTER SUBSCRIPTION {} SET (slot_name = NONE)").format(sql.Identifier(name)))
            target.execute(sql.SQL("DROP SUBSCRIPTION {}").format(sql.Identifier(name)))
    sync_slots = f"pg\\_{row[0]}\\_sync\\_%" if row is not None else None
    deadline = time.monotonic() + 30
    while True:
        try:
            source.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                           " WHERE slot_name = %s OR slot_name LIKE %s", (name, sync_slots or name))
            break
        except psycopg.errors.ObjectInUse:  # a sender still ends its session
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    source.execute(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(name)))
    for db in (source, target):
        db.execute("DELETE FROM atlas_meta.move_marks WHERE organization_id = %s", (org,))


def leftovers(source: psycopg.Connection, target: psycopg.Connection, org: uuid.UUID) -> list[str]:
    """What of the org's move exists (for tests and `atlas org where`): slot, publication, subscription."""
    name = name_of(org)
    found = [f"slot {r[0]}" for r in source.execute(
        "SELECT slot_name FROM pg_replication_slots WHERE slot_name = %s"
        " OR (slot_name LIKE 'pg\\_%%\\_sync\\_%%' AND database = current_database())", (name,))]
    found += [f"publication {r[0]}" for r in source.execute("SELECT pubname FROM pg_publication WHERE pubname = %s",
                                                            (name,))]
    found += [f"subscription {r[0]}" for r in target.execute(
        "SELECT subname FROM pg_subscription WHERE subname = %s", (name,))]
    return found
