"""A scoped read in one round trip on a prepared statement, at the libpq level.

Why this exists: through psycopg's cursor API a scoped read costs either extra
round trips (BEGIN, SET LOCAL, COMMIT), or one simple-protocol message whose
query PostgreSQL must parse and plan every time, while a raw query is prepared
after a few runs. Here the four messages go out as one libpq pipeline, ending
in a single Sync, and the query runs as a named prepared statement that the
connection keeps (PgBouncer >= 1.21 tracks protocol-level prepared statements
in transaction mode):

    [Parse atlas_N]  BEGIN READ ONLY  SET LOCAL app.org_id  Execute atlas_N  COMMIT  Sync

The SET LOCAL (app/scoped_settings.py) quotes the org's UUID as a literal; the query's values
travel as bind parameters. A request's session is resolved the same way, under
`SET LOCAL app.session_token_hash` instead (session_read). On any failure the
transaction is rolled back (or, if the connection's state is unknown, the
connection is closed so the pool replaces it): a connection never goes back
to the pool inside a transaction.
"""
from __future__ import annotations

import re
import select
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import abc, pq, sql
from psycopg.adapt import PyFormat, Transformer

from app.scoped_settings import set_local

Row = dict[str, Any]
_Key = tuple[bytes, tuple[int, ...]]  # a statement's $n text and its parameter types
_PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?s|%%")
_MAX_STATEMENTS = 200  # prepared statements kept per connection (LRU, then DEALLOCATE)
_states: weakref.WeakKeyDictionary[psycopg.Connection, _ConnState] = weakref.WeakKeyDictionary()
_serial = iter(range(1, 2**62))


def to_positional(query: str, params: Sequence[Any] | Mapping[str, Any] | None) -> tuple[bytes, list[Any]]:
    """psycopg placeholders (%s, %(name)s, %%) to PostgreSQL's $n, with the values in order."""
    command, slots = _template(query)
    if params is None or isinstance(params, str):
        params_seq: Sequence[Any] | None = None
    else:
        params_seq = params if not isinstance(params, Mapping) else None
    if any(isinstance(slot, int) for slot in slots):
        if params_seq is None:
            raise TypeError("query uses %s but the parameters are not a sequence")
        if len(params_seq) != len(slots):
            raise TypeError(f"the query has {len(slots)} placeholders for {len(params_seq)} parameters")
        return command, list(params_seq)
    if slots:
        if not isinstance(params, Mapping):
            raise TypeError("query uses %(name)s but the parameters are not a mapping")
        return command, [params[name] for name in slots if isinstance(name, str)]  # _template refuses a mix
    if params_seq:
        raise TypeError("the query has no placeholders but parameters were given")
    return command, []


@lru_cache(maxsize=1024)
def _template(query: str) -> tuple[bytes, tuple[int | str, ...]]:
    """The $n text of a query and what each $n takes (an index, or a name); cached per text."""
    slots: list[int | str] = []
    names: dict[str, int] = {}

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "%%":
            return "%"
        name = match.group(1)
        if name is None:
            slots.append(len(slots))
            return f"${len(slots)}"
        if name not in names:
            slots.append(name)
            names[name] = len(slots)
        return f"${names[name]}"

    text = _PLACEHOLDER.sub(replace, query)
    if any(isinstance(s, int) for s in slots) and any(isinstance(s, str) for s in slots):
        raise TypeError("a query cannot mix %s and %(name)s placeholders")
    return text.encode(), tuple(slots)


@lru_cache(maxsize=4096)
def _set_org(org: uuid.UUID) -> bytes:
    """The org's SET LOCAL (app/scoped_settings.py), as bytes for libpq, cached per org."""
    return set_local("app.org_id", str(org)).as_bytes(None)


def session_read(conn: psycopg.Connection, token_hash: str, query: str, params: Any = None) -> list[Row]:
    """Run one read-only query under app.session_token_hash (no org) in one round trip; rows as dicts.

    For resolving a request's session (app/identity.py): only the policies
    keyed on the token admit rows. Errors as for scoped_read.
    """
    setting = set_local("app.session_token_hash", token_hash).as_bytes(None)
    try:
        return _scoped_read(conn, setting, query, params)
    except psycopg.errors.InvalidSqlStatementName:
        _forget_statements(conn)
        return _scoped_read(conn, setting, query, params)


def scoped_read(conn: psycopg.Connection, org: uuid.UUID, query: str, params: Any = None) -> list[Row]:
    """Run one read-only query for `org` in one round trip; rows as dicts.

    Raises the psycopg error the server sent (mapped like any other), after
    rolling the transaction back. Our statements can vanish behind our back:
    psycopg sends DEALLOCATE ALL when a transaction that prepared its own
    statements rolls back. Then the statement cache is forgotten and the read
    tried once more, preparing afresh.
    """
    try:
        return _scoped_read(conn, _set_org(org), query, params)
    except psycopg.errors.InvalidSqlStatementName:
        _forget_statements(conn)
        return _scoped_read(conn, _set_org(org), query, params)


def _forget_statements(conn: psycopg.Connection) -> None:
    state = _states.get(conn)
    if state is not None:
        state.statements.clear()


def _scoped_read(conn: psycopg.Connection, setting: bytes, query: str, params: Any) -> list[Row]:
    command, values = to_positional(query, params)
    state = _states.get(conn)
    if state is None:
        state = _states[conn] = _ConnState(Transformer(conn))
    tx, cache = state.transformer, state.statements
    dumped = tx.dump_sequence(values, [PyFormat.AUTO] * len(values))
    types, formats = tuple(tx.types or ()), list(tx.formats or ())
    key = (command, types)
    name = cache.get(key)
    pgconn = conn.pgconn
    preparing = name is None
    try:
        pgconn.enter_pipeline_mode()
        if name is None:
            name = f"atlas_{next(_serial)}".encode()
            pgconn.send_prepare(name, command, param_types=types)
        pgconn.send_query_params(b"BEGIN READ ONLY", None)
        pgconn.send_query_params(setting, None)
        pgconn.send_query_prepared(name, dumped, param_formats=formats)
        pgconn.send_query_params(b"COMMIT", None)
        pgconn.pipeline_sync()
        rows, errors = _collect(conn, tx)
        pgconn.exit_pipeline_mode()
    except BaseException:
        conn.close()  # state unknown: let the pool replace the connection
        cache.pop(key, None)
        raise
    if not (preparing and errors and errors[0][0] == 0):  # the Parse itself did not fail
        _remember(conn, cache, key, name)
    if errors:
        if pgconn.transaction_status != pq.TransactionStatus.IDLE:
            conn.rollback()
        raise errors[0][1]
    return rows


class _ConnState:
    """What a connection keeps between scoped reads: its adapters and prepared statements."""

    __slots__ = ("transformer", "statements")

    def __init__(self, transformer: abc.Transformer) -> None:
        self.transformer = transformer
        self.statements: OrderedDict[_Key, bytes] = OrderedDict()


def _collect(conn: psycopg.Connection, tx: abc.Transformer) -> tuple[list[Row], list[tuple[int, Exception]]]:
    """Read results up to the Sync; keep the rows and each error with its message's position."""
    pgconn = conn.pgconn
    _flush(pgconn)
    rows: list[Row] = []
    errors: list[tuple[int, Exception]] = []
    position = -1
    while True:
        while pgconn.is_busy():
            select.select([pgconn.socket], [], [])
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is None:
            continue
        position += 1
        status = result.status
        if status == pq.ExecStatus.PIPELINE_SYNC:
            return rows, errors
        if status == pq.ExecStatus.TUPLES_OK:
            tx.set_pgresult(result)
            names = [(result.fname(i) or b"").decode() for i in range(result.nfields)]
            rows = [dict(zip(names, row)) for row in tx.load_rows(0, result.ntuples, tuple)]
        elif status == pq.ExecStatus.FATAL_ERROR:
            errors.append((position, psycopg.errors.error_from_result(result, encoding=conn.info.encoding)))


def _flush(pgconn: pq.abc.PGconn) -> None:
    while pgconn.flush() == 1:
        select.select([], [pgconn.socket], [])


def _remember(conn: psycopg.Connection, cache: OrderedDict[_Key, bytes], key: _Key, name: bytes) -> None:
    cache[key] = name
    cache.move_to_end(key)
    while len(cache) > _MAX_STATEMENTS:
        _, old = cache.popitem(last=False)
        conn.execute(sql.SQL("DEALLOCATE {}").format(sql.Identifier(old.decode())))
