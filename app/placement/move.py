"""`atlas org move`: an org's rows to another database and back, one resumable step at a time.

The order of work (each step's name is a checkpoint, recorded in atlas_meta.org_moves):

  started    the move is recorded; a second move of the org must finish or abort first
  migrated   the target has every migration (and so the same roles, RLS and org_hold triggers)
  copied     the org's rows are in the target: streamed by logical replication (a publication
             with row filters in the source, a subscription in the target, app/placement/logical.py),
             or with --copy read under one snapshot of the source
  held       the org's writes in the source are held (pg_advisory_lock on the org's hold key:
             open writes finish first, new ones are answered 503; no other org is touched)
  verified   the target has applied the source's LSN at the hold (--copy: rows changed since the
             copy are caught up); counts and checksums match per table
  marked     (home moves only) the dedicated source refuses the org's writes from now on
  switched   the placement changed in the shared database; the hold is released; the
             subscription, its slot and the publication are dropped
  cleaned    the org's rows are gone from the source, once every worker's cache has expired

Every step, a rerun, an abort and a failure is audited as it happens, in the
shared database (`_audit`): in the org's own trail (audit_log, entity
organization, which the trail shows wherever the org lives) and in
platform_audit, with the operator's user and host, as an operator's command
has no Atlas user (sql/103_move_audit.sql).

Until `switched` the org is served from the source and the target copy is not read, so a
failure or a kill leaves the org where it was (a dead mover's hold dies with its connection);
rerun the move to go on (a logical move subscribes afresh), or `--abort` to drop the copy and
the replication objects. After `switched` the org is served
from the target, and a rerun finishes the clean-up.
"""
from __future__ import annotations

import getpass
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import psycopg
from psycopg.types.json import Jsonb

from app.config import RoleNames
from app.db.connect import open_connection
from app.db.migrate import migrate
from app.errors.operations import MoveError
from app.placement import logical, mirror
from app.placement.locations import location_of, role_conninfo
from app.placement.tables import Table, checksum, copy_rows, delete_rows, placed_tables, row_hashes, stable_output
from app.placement.verify import verify_both

Say = Callable[[str], None]


@dataclass(frozen=True)
class Plan:
    org: uuid.UUID
    control_url: str  # the shared database, as its admin
    source_url: str | None  # admin URLs; None is the shared database
    target_url: str | None
    roles: RoleNames
    method: str = "logical"  # or "copy" (`--copy`): how the rows reach the target, recorded with the move

    def url(self, which: str | None) -> str:
        return self.control_url if which is None else which

    @property
    def target_location(self) -> str | None:
        return None if self.target_url is None else location_of(self.target_url)

    @property
    def source_location(self) -> str | None:
        return None if self.source_url is None else location_of(self.source_url)


@contextmanager
def _connect(url: str, *, replica: bool = False) -> Iterator[psycopg.Connection]:
    with open_connection("placement.move", url, autocommit=True) as conn:
        stable_output(conn)
        if replica:  # no foreign-key actions or triggers while rows are copied (superuser only)
            conn.execute("SET session_replication_role = replica")
        yield conn


def _admin(control_url: str, location: str | None) -> str | None:
    """The admin's URL at a location: the shared database's admin login, on that server."""
    return None if location is None else role_conninfo(control_url, location)


def _identity(url: str) -> tuple[object, ...]:
    """Which server and database a URL reaches, whatever host name or address it uses."""
    with open_connection("placement.move", url, autocommit=True, connect_timeout=10) as conn:
        row = conn.execute("SELECT (SELECT system_identifier FROM pg_control_system()), current_database()").fetchone()
    assert row is not None
    return tuple(row)


def plan_move(control_url: str, roles: RoleNames, org: uuid.UUID, *, to_url: str | None,
              method: str = "logical") -> Plan:
    """Where the org is and where it goes (to_url None: home to the shared database), and by which method.

    A logical move checks the source's wal_level (and free slots) first; MoveError names the setting.
    """
    plan = _plan(control_url, roles, org, to_url=to_url, method=method)
    if plan.method == "logical":
        with _connect(plan.url(plan.source_url)) as source:
            logical.require_logical(source)
    return plan


def _plan(control_url: str, roles: RoleNames, org: uuid.UUID, *, to_url: str | None, method: str) -> Plan:
    with _connect(control_url) as conn:
        if conn.execute("SELECT 1 FROM organizations WHERE id = %s", (org,)).fetchone() is None:
            raise MoveError(f"no organization has id {org}")
        pending = conn.execute("SELECT source, target, method FROM atlas_meta.org_moves WHERE organization_id = %s",
                               (org,)).fetchone()
        here = conn.execute("SELECT location FROM org_placements WHERE organization_id = %s", (org,)).fetchone()
    wanted = None if to_url is None else location_of(to_url)
    if pending is not None:
        if pending[1] != wanted:
            raise MoveError(f"org {org} has an unfinished move to {pending[1] or 'the shared database'}:"
                            " rerun that move, or abort it with `atlas org move ORG --abort`")
        return Plan(org, control_url, _admin(control_url, pending[0]), to_url if to_url else None, roles, pending[2])
    if to_url is not None and _identity(to_url) == _identity(control_url):
        raise MoveError("the target is the shared database itself: give a database of the org's own")
    current = here[0] if here else None
    if current == wanted:
        raise MoveError(f"org {org} is already in {wanted or 'the shared database'}")
    if current is not None and wanted is not None:
        raise MoveError(f"org {org} is in a dedicated database: move it home (--back) first")
    return Plan(org, control_url, _admin(control_url, current), to_url, roles, method)


def pending_plan(control_url: str, roles: RoleNames, org: uuid.UUID) -> Plan:
    """The plan of the org's unfinished move, from its recorded locations (for --abort)."""
    with _connect(control_url) as conn:
        row = conn.execute("SELECT source, target, method FROM atlas_meta.org_moves WHERE organization_id = %s",
                           (org,)).fetchone()
    if row is None:
        raise MoveError(f"org {org} has no unfinished move")
    return Plan(org, control_url, _admin(control_url, row[0]), _admin(control_url, row[1]), roles, row[2])


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container): say so rather than fail the move
        return "unknown"


def _audit(conn: psycopg.Connection, plan: Plan, step: str, *, action: str = "organization.move",
           outcome: str = "ok", error: str | None = None) -> None:
    """One move step in the org's trail and in platform_audit (as the shared database's admin, on `conn`)."""
    detail: dict[str, object] = {
        "step": step, "from": plan.source_location or "shared", "to": plan.target_location or "shared",
        "operator": _operator(), "host": socket.gethostname()}
    if error is not None:
        detail["error"] = error[:1000]
    conn.execute("INSERT INTO audit_log (org_id, action, entity, entity_id, outcome, detail)"
                 " VALUES (%s, %s, 'organization', %s, %s, %s)", (plan.org, action, str(plan.org), outcome, Jsonb(detail)))
    conn.execute("INSERT INTO platform_audit (actor_user_id, action, target_org_id, detail) VALUES (NULL, %s, %s, %s)",
                 (action, plan.org, Jsonb({**detail, "outcome": outcome})))


def _step(plan: Plan, name: str, pause: Say, *, control: psycopg.Connection | None = None) -> None:
    """Record and audit a step (on `control`, the shared database's open session, if given), then pause."""
    with (nullcontext(control) if control is not None else _connect(plan.control_url)) as conn, \
            conn.transaction():
        conn.execute("UPDATE atlas_meta.org_moves SET step = %s, updated_at = now() WHERE organization_id = %s",
                     (name, plan.org))
        _audit(conn, plan, name)
    pause(name)


def _tables(plan: Plan) -> list[Table]:
    with _connect(plan.url(plan.source_url)) as source, _connect(plan.url(plan.target_url)) as target:
        here, there = placed_tables(source, app_role=plan.roles.app), placed_tables(target, app_role=plan.roles.app)
    if here != there:
        raise MoveError("the source and target schemas differ: run `atlas migrate` on both")
    return here


def run(plan: Plan, *, cache_s: float, say: Say, pause: Say) -> None:
    """Do every step not yet done; raises MoveError (org still served where it was until `switched`)."""
    try:
        _run(plan, cache_s=cache_s, say=say, pause=pause)
    except (MoveError, psycopg.Error) as exc:
        try:
            with _connect(plan.control_url) as conn, conn.transaction():
                _audit(conn, plan, "failed", outcome="error", error=str(exc))
        except psycopg.Error:  # the shared database is what failed: the move's own error says more
            pass
        raise


def _run(plan: Plan, *, cache_s: float, say: Say, pause: Say) -> None:
    with _connect(plan.control_url) as conn, conn.transaction():
        row = conn.execute("SELECT step FROM atlas_meta.org_moves WHERE organization_id = %s", (plan.org,)).fetchone()
        if row is None:
            conn.execute("INSERT INTO atlas_meta.org_moves (organization_id, source, target, step, method)"
                         " VALUES (%s, %s, %s, 'started', %s)",
                         (plan.org, plan.source_location, plan.target_location, plan.method))
        _audit(conn, plan, "started" if row is None else "resumed")
        placed = conn.execute("SELECT location FROM org_placements WHERE organization_id = %s",
                              (plan.org,)).fetchone()
    # Once the placement names the target, the target is the truth: never copy over it again.
    if (placed[0] if placed else None) != plan.target_location:
        pause("started")
        if plan.target_url is not None:
            migrate(plan.target_url, roles=plan.roles)
        _step(plan, "migrated", pause)
        tables = _tables(plan)
        if plan.method == "logical":
            _replicate(plan, tables, say)
        else:
            _copy(plan, tables, say)
        _step(plan, "copied", pause)
        # Every session the hold needs is open before it: connecting is no part of the hold.
        with _connect(plan.control_url) as control, _connect(plan.url(plan.source_url)) as hold, \
                _connect(plan.url(plan.target_url), replica=True) as target:
            hold.execute("SET lock_timeout = '60s'")
            hold.execute("SELECT pg_advisory_lock(app.org_hold_key(%s))", (plan.org,))
            held_at = time.monotonic()
            say("writes held")
            _step(plan, "held", pause, control=control)
            if plan.method == "logical":
                verifying_at = _applied(plan, control, hold, target, tables, say)
            else:
                verifying_at = _catch_up(plan, control, hold, target, tables, say)
            verified_at = time.monotonic()
            _step(plan, "verified", pause, control=control)
            _switch(plan, control, hold, target, pause)
        ms = {name: 1000 * (end - start) for name, start, end in (
            ("held", held_at, time.monotonic()), ("caught up", held_at, verifying_at),
            ("verified", verifying_at, verified_at), ("switched", verified_at, time.monotonic()))}
        say(f"switched; writes released after {ms['held']:.0f} ms held ({ms['caught up']:.0f} ms to catch up,"
            f" {ms['verified']:.0f} ms to verify, {ms['switched']:.0f} ms to switch)")
        _unreplicate(plan)
        pause("switched")
    _unreplicate(plan)  # a rerun after a kill at `switched`
    tables = _tables(plan)
    time.sleep(2 * cache_s + 0.5)  # every worker has read the new placement by now
    with _connect(plan.url(plan.source_url)) as source, _connect(plan.url(plan.target_url)) as target:
        _purge(source, target, tables, plan.org)
        if plan.source_url is not None:
            mirror.remove(source, plan.org)
    _step(plan, "cleaned", pause)
    with _connect(plan.control_url) as conn:
        conn.execute("DELETE FROM atlas_meta.org_moves WHERE organization_id = %s", (plan.org,))
    say(f"org {plan.org} now lives in {plan.target_location or 'the shared database'}")


def _copy(plan: Plan, tables: list[Table], say: Say) -> None:
    """The org's rows under one snapshot of the source; leftovers of an earlier attempt replaced."""
    with _connect(plan.control_url) as control, _connect(plan.url(plan.source_url)) as source, \
            _connect(plan.url(plan.target_url), replica=True) as target:
        if plan.target_url is not None:
            mirror.sync(control, target, plan.org, with_org_row=True)
        with source.transaction(), target.transaction():
            source.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            for table in reversed(tables):
                if not table.append_only:
                    delete_rows(target, table, plan.org)
            for table in tables:
                missing = None
                if table.append_only:
                    missing = sorted(row_hashes(source, table, plan.org) - row_hashes(target, table, plan.org))
                copy_rows(source, target, table, plan.org, hashes=missing)
                say(f"copied {table.name}: {checksum(target, table, plan.org)[0]} rows")


def _unreplicate(plan: Plan) -> None:
    """Drop the move's subscription, slot and publication (any method: a --copy rerun of a logical move too)."""
    with _connect(plan.url(plan.source_url)) as source, _connect(plan.url(plan.target_url)) as target:
        logical.teardown(source, target, plan.org)


def _replicate(plan: Plan, tables: list[Table], say: Say) -> None:
    """Subscribe the target afresh to the org's rows in the source; return once copied and caught up."""
    _unreplicate(plan)  # a rerun starts over: the earlier attempt's slot is dropped, not trusted
    with _connect(plan.control_url) as control, _connect(plan.url(plan.source_url)) as source, \
            _connect(plan.url(plan.target_url), replica=True) as target:
        logical.check_identity(source, tables)
        _purge(target, source, tables, plan.org)  # leftovers of an earlier attempt would conflict with the copy
        if plan.target_url is not None:
            mirror.sync(control, target, plan.org, with_org_row=True)
        logical.subscribe(source, target, tables, plan.org, source_conninfo=plan.url(plan.source_url))
        say("subscribed: the target copies the org's rows and streams its changes")
        logical.wait_copied(target, plan.org, say)
        started = time.monotonic()
        logical.wait_applied(target, plan.org, logical.mark(source, plan.org))  # unheld: the held wait is short
        say(f"caught up in {1000 * (time.monotonic() - started):.0f} ms")


def _applied(plan: Plan, control: psycopg.Connection, source: psycopg.Connection, target: psycopg.Connection,
             tables: list[Table], say: Say) -> float:
    """With writes held: the target has applied the source's LSN at the hold; counts and fingerprints match.

    Returns when (time.monotonic()) the verification began.
    """
    if plan.target_url is not None:
        mirror.sync(control, target, plan.org, with_org_row=True)
    lsn = logical.mark(source, plan.org)
    logical.wait_applied(target, plan.org, lsn)
    say(f"the target applied the source's changes up to LSN {lsn}")
    verifying_at = time.monotonic()
    verify_both(source, target, tables, plan.org, say)
    return verifying_at


def _catch_up(plan: Plan, control: psycopg.Connection, source: psycopg.Connection, target: psycopg.Connection,
              tables: list[Table], say: Say) -> float:
    """With writes held: the rows changed since the copy, then counts and fingerprints per table.

    Returns when (time.monotonic()) the verification began.
    """
    if plan.target_url is not None:
        mirror.sync(control, target, plan.org, with_org_row=True)
    with target.transaction():
        diffs = {t.name: (row_hashes(source, t, plan.org), row_hashes(target, t, plan.org)) for t in tables}
        for table in reversed(tables):
            here, there = diffs[table.name]
            if not table.append_only and there - here:
                delete_rows(target, table, plan.org, hashes=sorted(there - here))
        for table in tables:
            here, there = diffs[table.name]
            if here - there:
                copy_rows(source, target, table, plan.org, hashes=sorted(here - there))
        verifying_at = time.monotonic()
        verify_both(source, target, tables, plan.org, say)  # the target's copies, before they commit
    return verifying_at


def _switch(plan: Plan, control: psycopg.Connection, source: psycopg.Connection, target: psycopg.Connection,
            pause: Say) -> None:
    """The target serves the org from the commit in the shared database on (on the hold's open sessions)."""
    target.execute("DELETE FROM atlas_meta.org_away WHERE organization_id = %s", (plan.org,))
    if plan.source_url is not None:  # home: the dedicated source refuses the org's writes first
        source.execute("INSERT INTO atlas_meta.org_away (organization_id) VALUES (%s) ON CONFLICT DO NOTHING",
                       (plan.org,))
        _step(plan, "marked", pause, control=control)
    with control.transaction():
        if plan.target_location is None:
            control.execute("DELETE FROM org_placements WHERE organization_id = %s", (plan.org,))
        else:
            control.execute("INSERT INTO atlas_meta.org_away (organization_id) VALUES (%s) ON CONFLICT DO NOTHING",
                            (plan.org,))
            control.execute("INSERT INTO org_placements (organization_id, location) VALUES (%s, %s)"
                            " ON CONFLICT (organization_id) DO UPDATE SET location = EXCLUDED.location,"
                            " placed_at = now()", (plan.org, plan.target_location))
        control.execute("UPDATE atlas_meta.org_moves SET step = 'switched', switched_at = now(), updated_at = now()"
                        " WHERE organization_id = %s", (plan.org,))
        _audit(control, plan, "switched")


def _purge(db: psycopg.Connection, other: psycopg.Connection, tables: list[Table], org: uuid.UUID) -> None:
    """Delete the org's rows from `db`; of append-only tables only the rows `other` also has."""
    with db.transaction():
        for table in reversed(tables):
            if table.append_only:
                both = sorted(row_hashes(db, table, org) & row_hashes(other, table, org))
                if both:
                    delete_rows(db, table, org, hashes=both)
            else:
                delete_rows(db, table, org)


def abort(plan: Plan, *, say: Say) -> None:
    """Drop an unfinished move's copy; the org stays served from its source. Refused after `switched`."""
    with _connect(plan.control_url) as conn:
        row = conn.execute("SELECT step FROM atlas_meta.org_moves WHERE organization_id = %s", (plan.org,)).fetchone()
    if row is None:
        raise MoveError(f"org {plan.org} has no unfinished move")
    with _connect(plan.control_url) as conn:
        placed = conn.execute("SELECT location FROM org_placements WHERE organization_id = %s",
                              (plan.org,)).fetchone()
    if row[0] in ("switched", "cleaned") or (placed[0] if placed else None) == plan.target_location:
        raise MoveError(f"the move of org {plan.org} has switched already: rerun it to finish, then move it back")
    if plan.source_url is not None:  # a home move may have marked its source already
        with _connect(plan.source_url) as source:
            source.execute("DELETE FROM atlas_meta.org_away WHERE organization_id = %s", (plan.org,))
    try:
        tables = _tables(plan)
    except MoveError:
        tables = []  # the target never got its migrations: it holds nothing of the org
    if tables:  # the subscription first: it would write what the purge removes
        _unreplicate(plan)
    with _connect(plan.url(plan.target_url)) as target, _connect(plan.url(plan.source_url)) as source:
        _purge(target, source, tables, plan.org)
        if plan.target_url is not None and tables:  # an unmigrated target has no mirror (nor tables)
            mirror.remove(target, plan.org)
    with _connect(plan.control_url) as conn, conn.transaction():
        conn.execute("DELETE FROM atlas_meta.org_moves WHERE organization_id = %s", (plan.org,))
        _audit(conn, plan, row[0], action="organization.move_abort")
    say(f"move of org {plan.org} aborted; it is served from {'its dedicated database' if plan.source_url else 'the shared database'}")
