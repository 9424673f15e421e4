"""A read in one round trip on a prepared statement, at the libpq level.

Why this exists: through psycopg's cursor API a scoped read costs either extra round trips
(BEGIN, SET LOCAL, COMMIT), or one simple-protocol message whose query PostgreSQL must parse
and plan every time, while a raw query is prepared after a few runs (psycopg's pipeline with
prepare: about 3x the time of this path, scripts/bench_rls.py). Here every message goes out
as one libpq pipeline ending in a single Sync:

    BEGIN READ ONLY  [Parse atlas_N]  SET LOCAL app.org_id  Execute atlas_N  COMMIT  Sync

The SET LOCAL (app/db/scoped_settings.py) quotes the org's UUID as a literal; the query's values
travel as bind parameters. `session_read` replaces the SET LOCAL by `SELECT * FROM
app.resolve_session($1)` (sql/064, sql/096), which checks the session and scopes the rest of
the transaction to its org, in a REPEATABLE READ snapshot shared with the data read after it.
BEGIN and COMMIT are prepared once per connection too (tx_begin_*, tx_commit): Bind and
Execute alone cost a scoped point read about 30 us less than the unnamed statement each time.

Statements are named and kept per connection (LRU of _MAX_STATEMENTS, evicted with a protocol
Close, which PgBouncer >= 1.21 tracks), or with ATLAS_DB_PREPARED_STATEMENTS=unnamed sent as the
unnamed statement: one round trip, planned each time, behind any PgBouncer (docs/scaling.md).

Waiting is poll(2) (no descriptor limit) with a deadline: past it the connection is closed and
DatabaseTimeoutError (503) raised. A failure rolls the transaction back, or closes a connection
in an unknown state: a connection never goes back to the pool inside a transaction. After an
error the record of prepared statements keeps exactly the Parses the server ran (those before the
first error); a mismatch the server reports is repaired by Close and a rerun (docs/faults.md).
"""
from __future__ import annotations

import select
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import abc, pq
from psycopg.adapt import PyFormat, Transformer

from app.db.placeholders import to_positional
from app.db.scoped_settings import set_local_id
from app.errors.database import DatabaseTimeoutError
from app.failover.standby import refused_by_standby

Row = dict[str, Any]
Result = tuple[list[str], list[tuple[Any, ...]]]  # column names, rows as tuples
_Key = tuple[bytes, tuple[int, ...]]  # a statement's $n text and its parameter types
_MAX_STATEMENTS = 200  # prepared statements kept per connection (LRU, then Close)
_RESOLVE = "SELECT * FROM app.resolve_session(%s)"
_READ_ONLY = b"BEGIN READ ONLY"
_SNAPSHOT = b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
# The transaction's ends, prepared once per connection under names of their own (not atlas_N).
_END_NAMES = {_READ_ONLY: b"tx_begin_read_only", _SNAPSHOT: b"tx_begin_snapshot", b"BEGIN": b"tx_begin",
              b"COMMIT": b"tx_commit"}
_IDLE, _ACTIVE, _PIPELINE_OFF = pq.TransactionStatus.IDLE, pq.TransactionStatus.ACTIVE, pq.PipelineStatus.OFF
_TUPLES_OK, _FATAL_ERROR, _PIPELINE_SYNC = pq.ExecStatus.TUPLES_OK, pq.ExecStatus.FATAL_ERROR, pq.ExecStatus.PIPELINE_SYNC
_states: weakref.WeakKeyDictionary[psycopg.Connection, _ConnState] = weakref.WeakKeyDictionary()
_serial = iter(range(1, 2**62))


@dataclass(frozen=True)
class WireConfig:
    """How a Database (app/db/__init__.py) talks on the wire: each Database holds its own."""

    named: bool = True  # named prepared statements, kept per connection (unnamed: PgBouncer < 1.21)
    timeout_s: float = 60.0  # longest wait for the server's answer


DEFAULT = WireConfig()


def _set_org(org: uuid.UUID) -> bytes:
    """The org's SET LOCAL (app/db/scoped_settings.py), as bytes for libpq: a few us, for any number of orgs."""
    return set_local_id("app.org_id", org if type(org) is uuid.UUID else uuid.UUID(str(org)))


def _set_user(user: uuid.UUID) -> bytes:
    return set_local_id("app.user_id", user if type(user) is uuid.UUID else uuid.UUID(str(user)))


def as_dicts(result: Result) -> list[Row]:
    names, rows = result
    return [dict(zip(names, row)) for row in rows]


def scoped_read(conn: psycopg.Connection, org: uuid.UUID, query: str, params: Any = None, *,
                config: WireConfig = DEFAULT) -> list[Row]:
    """Run one read-only query for `org` in one round trip; rows as dicts."""
    return as_dicts(scoped_rows(conn, org, query, params, config=config))


def scoped_rows(conn: psycopg.Connection, org: uuid.UUID, query: str, params: Any = None, *,
                config: WireConfig = DEFAULT) -> Result:
    """Run one read-only query for `org` in one round trip; column names and rows as tuples.

    Raises the psycopg error the server sent (mapped like any other), after
    rolling the transaction back.
    """
    return _run(conn, config, _READ_ONLY, [_set_org(org)], [(query, params)])[0]


def plain_rows(conn: psycopg.Connection, query: str, params: Any = None, *, config: WireConfig = DEFAULT) -> Result:
    """One read-only query with no setting at all, one round trip: the no-tenancy baseline (scripts/bench_bare.py)."""
    return _run(conn, config, _READ_ONLY, [], [(query, params)])[0]


def scoped_write(conn: psycopg.Connection, org: uuid.UUID, user: uuid.UUID, query: str, params: Any = None, *,
                 config: WireConfig = DEFAULT) -> Result:
    """One writing statement for `org` as `user`, committed, in one round trip (a write and its audit row)."""
    return _run(conn, config, b"BEGIN", [_set_org(org), _set_user(user)], [(query, params)])[0]


def scoped_many(conn: psycopg.Connection, org: uuid.UUID, statements: Sequence[tuple[str, Any]], *,
                config: WireConfig = DEFAULT) -> list[Result]:
    """Read-only queries for `org` in one transaction and one round trip (several: one snapshot)."""
    return _run(conn, config, _SNAPSHOT if len(statements) > 1 else _READ_ONLY, [_set_org(org)], list(statements))


def session_read(conn: psycopg.Connection, token_hash: str, statements: Sequence[tuple[str, Any]] = (), *,
                 config: WireConfig = DEFAULT) -> tuple[Row | None, list[Result]]:
    """Resolve a session and, in the same snapshot and round trip, run `statements` as its org and user.

    Returns (the identity row of app.resolve_session, or None; each statement's result).
    The statements run whatever the session: a dead session, or one whose user left
    the org, leaves app.org_id unset and RLS admits no tenant row, so their results
    are empty; callers must still refuse from the identity row, not from the rows.
    """
    results = _run(conn, config, _SNAPSHOT, [], [(_RESOLVE, (token_hash,)), *statements])
    identity = as_dicts(results[0])
    return (identity[0] if identity else None), results[1:]


def session_write(conn: psycopg.Connection, token_hash: str, query: str, params: Any = None, *,
                  config: WireConfig = DEFAULT) -> tuple[Row | None, Result]:
    """Resolve a session and run one writing statement as its org and user, committed, in one round trip.

    The statement must write nothing when app.org_id is unset (a dead session, or a user no
    longer in the org: app.resolve_session sets neither): callers refuse from the identity row.
    """
    results = _run(conn, config, b"BEGIN", [], [(_RESOLVE, (token_hash,)), (query, params)])
    identity = as_dicts(results[0])
    return (identity[0] if identity else None), results[1]


def _run(conn: psycopg.Connection, config: WireConfig, begin: bytes, settings: list[bytes],
         statements: list[tuple[str, Any]]) -> list[Result]:
    try:
        return _pipeline(conn, config, begin, settings, statements)
    except (psycopg.errors.InvalidSqlStatementName, psycopg.errors.DuplicatePreparedStatement):
        # Our record of statements and the server's differ (psycopg sends DEALLOCATE ALL when a
        # transaction that prepared its own statements rolls back): nothing ran, so close every
        # name we may own, forget them, and prepare afresh.
        _resync(conn, config)
        return _pipeline(conn, config, begin, settings, statements)


def lendable(conn: psycopg.Connection) -> bool:
    """May the pool lend `conn` again? Not in pipeline mode, mid-query, or when a pipeline of ours
    ended without settling its record of statements (a transaction left open the pool rolls back).

    The pool asks this of every connection it gets back (app/db/checked_pool.py).
    """
    state = _states.get(conn)
    return (not conn.closed and conn.pgconn.pipeline_status == _PIPELINE_OFF
            and conn.pgconn.transaction_status != _ACTIVE
            and (state is None or not state.unsettled))


def _pipeline(conn: psycopg.Connection, config: WireConfig, begin: bytes, settings: list[bytes],
              statements: list[tuple[str, Any]]) -> list[Result]:
    state = _states.get(conn)
    if state is None:
        state = _states[conn] = _ConnState(Transformer(conn))
    tx, cache, named, ends = state.transformer, state.statements, config.named, state.ends
    prepared: list[tuple[_Key, bytes, bool]] = []  # key, name, parsed in this pipeline
    bound: list[tuple[bytes, list[Any], list[Any], tuple[int, ...]]] = []  # text, values, formats, types
    for query, params in statements:
        command, values = to_positional(query, params)
        dumped = list(tx.dump_sequence(values, [PyFormat.AUTO] * len(values)))
        types, formats = tuple(tx.types or ()), list(tx.formats or ())
        bound.append((command, dumped, formats, types))
        if named:
            key = (command, types)
            name = cache.get(key)
            prepared.append((key, name or f"atlas_{next(_serial)}".encode(), name is None))
    pgconn = conn.pgconn
    deadline = time.monotonic() + config.timeout_s
    fresh_ends = ([text for text in (begin, b"COMMIT") if text not in ends]
                  if named and (begin not in ends or b"COMMIT" not in ends) else ())
    # Each message gets one result, in order; after the first error the server skips the rest
    # up to the Sync. So a Parse exists on the server exactly when its position precedes the
    # first error's: that, not "did the pipeline succeed", is what the record must follow.
    parses: list[tuple[int, bytes | _Key, bytes]] = []  # position, end text or statement key, name
    state.unsettled = True
    try:
        pgconn.enter_pipeline_mode()
        for text in fresh_ends:  # BEGIN and COMMIT, once per connection: a Parse of these takes no snapshot
            parses.append((len(parses), text, _END_NAMES[text]))
            pgconn.send_prepare(_END_NAMES[text], text)
        _send_fixed(pgconn, begin, named)  # before any other Parse, which would take the snapshot
        position = len(parses) + 1
        for key, name, fresh in prepared:
            if fresh:
                parses.append((position, key, name))
                position += 1
                pgconn.send_prepare(name, key[0], param_types=key[1])
        for setting in settings:
            pgconn.send_query_params(setting, None)
        for i, (command, dumped, formats, types) in enumerate(bound):
            if named:
                pgconn.send_query_prepared(prepared[i][1], dumped, param_formats=formats)
            else:
                pgconn.send_query_params(command, dumped, param_types=types, param_formats=formats)
        _send_fixed(pgconn, b"COMMIT", named)
        pgconn.pipeline_sync()
        results, errors = _collect(conn, tx, deadline)
        pgconn.exit_pipeline_mode()
        if errors and pgconn.transaction_status != _IDLE:
            _rollback(pgconn, deadline)
    except BaseException as exc:
        conn.close()  # state unknown: let the pool replace the connection
        _states.pop(conn, None)
        if isinstance(exc, TimeoutError):
            raise DatabaseTimeoutError(
                f"the database did not answer within {config.timeout_s:g} s; the connection was closed") from None
        raise
    failed_at = errors[0][0] if errors else len(parses) + 1  # past every Parse when nothing failed
    for position, what, name in parses:
        if position < failed_at:
            if isinstance(what, bytes):
                ends[what] = name
            else:
                cache[what] = name
    if not errors:
        for key, name, _ in prepared:  # most recently used last (LRU)
            cache[key] = name
            cache.move_to_end(key)
    if len(cache) > _MAX_STATEMENTS:
        _trim(conn, cache, deadline)
    state.unsettled = False
    if errors:
        standby = refused_by_standby(conn, errors[0][1])
        if standby is not None:
            conn.close()  # the pool replaces it: a new connection reaches the primary
            _states.pop(conn, None)
            raise standby from errors[0][1]
        raise errors[0][1]
    return results


def _rollback(pgconn: pq.abc.PGconn, deadline: float) -> None:
    """ROLLBACK on the wire, not conn.rollback(): psycopg's would DEALLOCATE ALL its and our statements."""
    pgconn.send_query(b"ROLLBACK")
    _settle(pgconn, deadline)
    if pgconn.transaction_status != pq.TransactionStatus.IDLE:
        raise psycopg.OperationalError("the connection did not return to idle after ROLLBACK")


def _resync(conn: psycopg.Connection, config: WireConfig) -> None:
    """Make the server hold none of the names we may own, and forget them (one round trip of Closes).

    Closing a statement that does not exist is not an error; names of statements prepared by a
    pipeline whose fate we lost are unique per process (atlas_N), so they can never collide.
    """
    state = _states.get(conn)
    names = set(_END_NAMES.values()) | (set(state.statements.values()) if state else set())
    if state is not None:
        state.statements.clear()
        state.ends.clear()
    if not config.named or conn.closed:
        return
    pgconn = conn.pgconn
    deadline = time.monotonic() + config.timeout_s
    try:
        pgconn.enter_pipeline_mode()
        for name in sorted(names):
            pgconn.send_close_prepared(name)
        pgconn.pipeline_sync()
        _, errors = _collect(conn, Transformer(conn), deadline)
        pgconn.exit_pipeline_mode()
        if errors:
            raise errors[0][1]
    except BaseException:
        conn.close()
        _states.pop(conn, None)
        raise


def _send_fixed(pgconn: pq.abc.PGconn, text: bytes, named: bool) -> None:
    """BEGIN or COMMIT: its prepared statement (Bind and Execute, no Parse), or the unnamed one."""
    if named:
        pgconn.send_query_prepared(_END_NAMES[text], None)
    else:
        pgconn.send_query_params(text, None)


class _ConnState:
    """What a connection keeps between reads: its adapters and prepared statements."""

    __slots__ = ("transformer", "statements", "ends", "unsettled")

    def __init__(self, transformer: abc.Transformer) -> None:
        self.transformer = transformer
        self.statements: OrderedDict[_Key, bytes] = OrderedDict()
        self.ends: dict[bytes, bytes] = {}  # BEGIN and COMMIT texts prepared on this connection (never evicted)
        self.unsettled = False  # a pipeline is between its first message and its record's update


def _collect(conn: psycopg.Connection, tx: abc.Transformer,
             deadline: float) -> tuple[list[Result], list[tuple[int, Exception]]]:
    """Read results up to the Sync; keep each row set and each error with its message's position."""
    pgconn = conn.pgconn
    _flush(pgconn, deadline)
    results: list[Result] = []
    errors: list[tuple[int, Exception]] = []
    position = -1
    while True:
        while pgconn.is_busy():
            _wait(pgconn.socket, select.POLLIN, deadline)
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is None:
            continue
        position += 1
        status = result.status
        if status == _PIPELINE_SYNC:
            return results, errors
        if status == _TUPLES_OK:
            tx.set_pgresult(result)
            names = [(result.fname(i) or b"").decode() for i in range(result.nfields)]
            results.append((names, tx.load_rows(0, result.ntuples, tuple)))
        elif status == _FATAL_ERROR:
            errors.append((position, psycopg.errors.error_from_result(result, encoding=conn.info.encoding)))


def _wait(fd: int, events: int, deadline: float) -> None:
    """Block until `fd` is ready or raise TimeoutError at the deadline (poll: any descriptor number)."""
    poller = select.poll()
    poller.register(fd, events)
    remaining = deadline - time.monotonic()
    if remaining <= 0 or not poller.poll(remaining * 1000):
        raise TimeoutError


def _settle(pgconn: pq.abc.PGconn, deadline: float) -> None:
    """Send what one command outside a pipeline queued and read its results to the end."""
    _flush(pgconn, deadline)
    while True:
        while pgconn.is_busy():
            _wait(pgconn.socket, select.POLLIN, deadline)
            pgconn.consume_input()
        if pgconn.get_result() is None:
            return


def _flush(pgconn: pq.abc.PGconn, deadline: float) -> None:
    while pgconn.flush() == 1:
        _wait(pgconn.socket, select.POLLOUT, deadline)


def _trim(conn: psycopg.Connection, cache: OrderedDict[_Key, bytes], deadline: float) -> None:
    while len(cache) > _MAX_STATEMENTS:
        _, old = cache.popitem(last=False)
        _close_statement(conn, old, deadline)


def _close_statement(conn: psycopg.Connection, name: bytes, deadline: float) -> None:
    """Close a prepared statement with the protocol's Close message (not SQL DEALLOCATE)."""
    pgconn = conn.pgconn
    try:
        pgconn.send_close_prepared(name)
        _settle(pgconn, deadline)
    except BaseException:
        conn.close()
        raise
