"""`atlas org restore ORG --to-time T`: one org put back as it was at T, every other org untouched.

The order of work:

  checked    the org exists; its cluster's stanza has a backup ending before T; WAL is archived
             up to now (`pgbackrest check` switches the WAL segment)
  scratch    the cluster is restored at T into a scratch cluster (app/backup/scratch.py)
  planned    per table, the org's rows at T and now are compared by row hash (the move's hashes)
  held       the org's writes are held in its live database (the move's hold: open writes finish,
             new ones get 503 org_moving); no other org is touched
  swapped    in one transaction: the org's rows that differ are deleted, its rows at T copied in
             (the move's COPY), counts and checksums compared per table; members, invitations, the
             organizations row; API keys revoked since T stay revoked; sessions of the org issued
             after T revoked; the restore audited (who, from when, row counts)
  released   the hold is released; the org's query cache entries are flushed (Redis)

Append-only tables (audit_log, idempotency_keys) only gain the rows they lack: the
trail of what happened after T is kept. `--dry-run` stops after `planned`.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.json import Jsonb

from app.backup import pgbackrest
from app.backup.clusters import facts
from app.backup.config import BackupConfig
from app.backup.scratch import restorable, restored
from app.config import Settings
from app.db.connect import open_connection
from app.errors.operations import RestoreError
from app.orgdata.caches import flush_org_cache
from app.orgdata.operator import who
from app.orgdata.tables import org_tables
from app.placement.locations import org_location, role_conninfo
from app.placement.tables import Table, checksum, copy_rows, delete_rows, row_hashes, stable_output

Say = Callable[[str], None]


@dataclass(frozen=True)
class Change:
    table: str
    at_t: int
    now: int
    added: int
    removed: int


def _connect(url: str, *, replica: bool = False) -> psycopg.Connection:
    conn = open_connection("orgdata.restore", url, autocommit=True, connect_timeout=10)
    stable_output(conn)
    if replica:  # no foreign-key actions or triggers while the org's rows are swapped (superuser only)
        conn.execute("SET session_replication_role = replica")
    return conn


def _diff(scratch: psycopg.Connection, live: psycopg.Connection, table: Table,
          org: uuid.UUID) -> tuple[list[str], list[str], int, int]:
    then, now = row_hashes(scratch, table, org), row_hashes(live, table, org)
    removed = [] if table.append_only else sorted(now - then)
    return sorted(then - now), removed, len(then), len(now)


def _at(url: str, scratch_base: str) -> str:
    """`url`'s user and database on the scratch cluster (its socket; no other host, address or TLS option)."""
    params = {k: v for k, v in conninfo_to_dict(url).items()
              if k in ("user", "dbname", "password", "application_name")}
    return make_conninfo("", **params, **conninfo_to_dict(scratch_base))


def _check_org_at(scratch: psycopg.Connection, org: uuid.UUID, location: str | None, to_time: datetime) -> None:
    """The org lived in this database at T (its row, or a dedicated database's mirror of it, and no away mark)."""
    if scratch.execute("SELECT 1 FROM organizations WHERE id = %s", (org,)).fetchone() is None:
        raise RestoreError(f"org {org} did not exist in {location or 'the shared database'} at {to_time.isoformat()}:"
                           " give a later --to-time (after it was created, or moved there)")
    away = scratch.execute("SELECT 1 FROM atlas_meta.org_away WHERE organization_id = %s", (org,)).fetchone()
    if away is not None:
        raise RestoreError(f"org {org} lived in another database at {to_time.isoformat()}, not where it lives now:"
                           " restore it to a time after its move")


def restore_org(settings: Settings, config: BackupConfig, org: uuid.UUID, to_time: datetime, *,
                dry_run: bool, say: Say) -> list[Change]:
    """Put `org` back as it was at `to_time`; returns the per-table changes (made, or planned with dry_run)."""
    control_url = settings.database.url
    with open_connection("orgdata.restore", control_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM organizations WHERE id = %s", (org,)).fetchone() is None:
            raise RestoreError(f"no organization has id {org}: check the id or slug (a purged org cannot be"
                               " restored; import its export instead)")
        if conn.execute("SELECT 1 FROM atlas_meta.org_moves WHERE organization_id = %s", (org,)).fetchone():
            raise RestoreError(f"org {org} has an unfinished move: finish or abort it (atlas org move) first")
    location = org_location(control_url, org)
    live_url = control_url if location is None else role_conninfo(control_url, location)
    cluster = facts(live_url)
    restorable(config, cluster, to_time)
    pgbackrest.run(config.config_path, cluster.stanza, "check", owner=cluster.owner, timeout_s=300)
    say(f"stanza {cluster.stanza}: WAL archived up to now; restoring to {to_time.isoformat()}")
    started = time.monotonic()
    with restored(config, cluster, to_time, dbname=str(conninfo_to_dict(live_url).get("dbname"))) as scratch_base:
        say(f"scratch cluster at {to_time.isoformat()} ready in {time.monotonic() - started:.1f} s")
        return _swap(settings, org, to_time, live_url, _at(live_url, scratch_base),
                     shared=location is None, location=location, dry_run=dry_run, say=say)


def _swap(settings: Settings, org: uuid.UUID, to_time: datetime, live_url: str, scratch_url: str, *,
          shared: bool, location: str | None, dry_run: bool, say: Say) -> list[Change]:
    control_url = settings.database.url
    with _connect(scratch_url) as scratch, \
            _connect(live_url) as hold, _connect(live_url, replica=True) as live:
        if scratch.execute("SHOW data_directory").fetchone() == live.execute("SHOW data_directory").fetchone():
            raise RestoreError("internal: the scratch connection reached the live cluster; nothing changed")
        _check_org_at(scratch, org, location, to_time)
        tables = org_tables(live, app_role=settings.database.roles.app, with_control=shared)
        if [t.name for t in tables] != [t.name for t in org_tables(scratch, app_role=settings.database.roles.app,
                                                                     with_control=shared)]:
            raise RestoreError("the tables at --to-time differ from today's (a migration added one since):"
                               " restore to a time after that migration")
        if dry_run:
            changes = [_change(t, *_diff(scratch, live, t, org)) for t in tables]
            for change in changes:
                say(_describe(change))
            say("dry run: nothing changed")
            return changes
        hold.execute("SET lock_timeout = '60s'")
        hold.execute("SELECT pg_advisory_lock(app.org_hold_key(%s))", (org,))
        held = time.monotonic()
        say("writes held")
        try:
            with live.transaction():
                changes = _replace_rows(scratch, live, tables, org, say)
                revoked = _after_swap(live if shared else None, scratch, org, to_time, say)
                if shared:
                    _audit(live, org, to_time, changes, revoked)
            if not shared:
                with _connect(control_url) as control, control.transaction():
                    revoked = _after_swap(control, None, org, to_time, say)
                    _audit(control, org, to_time, changes, revoked)
        except (RestoreError, psycopg.Error) as exc:  # nothing changed: say so in the trail too
            with _connect(control_url) as control:
                _audit(control, org, to_time, [], 0, error=str(exc))
            raise
        finally:
            hold.execute("SELECT pg_advisory_unlock(app.org_hold_key(%s))", (org,))
        say(f"swapped; writes released after {time.monotonic() - held:.2f} s; {revoked} session(s) revoked")
    flushed = flush_org_cache(settings, str(org))
    say(f"query cache: {flushed}")
    return changes


def _change(table: Table, added: list[str], removed: list[str], at_t: int, now: int) -> Change:
    return Change(table.name, at_t, now, len(added), len(removed))


def _describe(change: Change) -> str:
    return (f"{change.table}: {change.now} rows now, {change.at_t} at T: {change.removed} to remove,"
            f" {change.added} to add")


def _replace_rows(scratch: psycopg.Connection, live: psycopg.Connection, tables: list[Table], org: uuid.UUID,
                  say: Say) -> list[Change]:
    """The move's delete, copy and verify, between the scratch cluster and the live database."""
    diffs = {t.name: _diff(scratch, live, t, org) for t in tables}
    revoked_keys = _revoked_keys(live, org) if any(t.name == "api_keys" for t in tables) else []
    for table in reversed(tables):
        removed = diffs[table.name][1]
        if removed:
            delete_rows(live, table, org, hashes=removed)
    for table in tables:
        added = diffs[table.name][0]
        if added:
            copy_rows(scratch, live, table, org, hashes=added)
    changes = []
    for table in tables:
        _verify(scratch, live, table, org)
        change = _change(table, *diffs[table.name])
        say(_describe(change).replace(" to remove", " removed").replace(" to add", " added") + ", verified")
        changes.append(change)
    for key_id, revoked_at, revoked_by in revoked_keys:  # a key revoked since T (a leak?) stays revoked
        live.execute("UPDATE api_keys SET revoked_at = %s, revoked_by = %s WHERE org_id = %s AND id = %s"
                     " AND revoked_at IS NULL", (revoked_at, revoked_by, org, key_id))
    return changes


def _revoked_keys(live: psycopg.Connection, org: uuid.UUID) -> list[tuple[object, ...]]:
    return live.execute("SELECT id, revoked_at, revoked_by FROM api_keys WHERE org_id = %s"
                        " AND revoked_at IS NOT NULL", (org,)).fetchall()


def _verify(scratch: psycopg.Connection, live: psycopg.Connection, table: Table, org: uuid.UUID) -> None:
    if table.append_only:
        missing = row_hashes(scratch, table, org) - row_hashes(live, table, org)
        if missing:
            raise RestoreError(f"{table.name}: {len(missing)} rows at T are missing after the copy; nothing changed")
        return
    then, now = checksum(scratch, table, org), checksum(live, table, org)
    if then != now:
        raise RestoreError(f"{table.name}: {then[0]} rows at T ({then[1]}) but {now[0]} after the copy ({now[1]});"
                           " nothing changed")


def _after_swap(control: psycopg.Connection | None, control_scratch: psycopg.Connection | None,
                org: uuid.UUID, to_time: datetime, say: Say) -> int:
    """The organizations row as at T (slug only if still free); members whose user is gone since T dropped;
    sessions of the org issued after T revoked (returns how many)."""
    if control is None:
        return 0
    if control_scratch is not None:
        row = control_scratch.execute("SELECT name, slug, logo, metadata FROM organizations WHERE id = %s",
                                      (org,)).fetchone()
        if row is not None:
            control.execute(
                "UPDATE organizations SET name = %s, logo = %s, metadata = %s,"
                " slug = CASE WHEN EXISTS (SELECT 1 FROM organizations o WHERE o.slug = %s AND o.id <> %s)"
                " THEN slug ELSE %s END WHERE id = %s",
                (row[0], row[2], Jsonb(row[3]), row[1], org, row[1], org))
        gone = control.execute("DELETE FROM members m WHERE m.org_id = %s AND NOT EXISTS"
                               " (SELECT 1 FROM users u WHERE u.id = m.user_id)", (org,)).rowcount
        if gone:
            say(f"members: {gone} of T left out, their users were deleted since")
    return control.execute("UPDATE sessions SET revoked_at = now() WHERE active_org_id = %s AND created_at > %s"
                           " AND revoked_at IS NULL", (org, to_time)).rowcount


def _audit(control: psycopg.Connection, org: uuid.UUID, to_time: datetime, changes: list[Change],
           revoked: int, *, error: str | None = None) -> None:
    detail: dict[str, object] = {
        "to_time": to_time.isoformat(), **who(), "sessions_revoked": revoked,
        "tables": {c.table: {"at_t": c.at_t, "before": c.now, "added": c.added, "removed": c.removed}
                   for c in changes}}
    if error is not None:
        detail["error"] = error[:1000]
    outcome = "ok" if error is None else "error"
    control.execute("INSERT INTO audit_log (org_id, action, entity, entity_id, outcome, detail)"
                    " VALUES (%s, 'organization.restore', 'organization', %s, %s, %s)",
                    (org, str(org), outcome, Jsonb(detail)))
    control.execute("INSERT INTO platform_audit (actor_user_id, action, target_org_id, detail)"
                    " VALUES (NULL, 'organization.restore', %s, %s)", (org, Jsonb({**detail, "outcome": outcome})))
