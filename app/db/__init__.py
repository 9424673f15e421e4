"""The org-scoped door: the only way code in app/ reaches tenant tables.

Every unit of work is one transaction on the application role (NOSUPERUSER,
NOBYPASSRLS, owns nothing) that starts with ``SET LOCAL app.org_id`` (built
by app/db/scoped_settings.py, like every transaction-local setting). The
setting is transaction-local, so it dies at COMMIT or ROLLBACK and a pooled
connection (or a PgBouncer server connection in transaction mode) carries no
tenant state to its next user. Asking for a transaction without an org raises
MissingOrgError before any SQL is sent.

BEGIN, the SET LOCAL and the first query travel in one pipeline, so scoping a
transaction costs no extra round trip before its first result; ``read_all`` /
``read_one`` pipeline BEGIN, the setting, a prepared query and COMMIT behind
one Sync (app/db/wire.py): one round trip and no re-planning, like a raw query.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

import psycopg
from psycopg import sql
from psycopg.abc import QueryNoTemplate as Query  # a Template would need a t-string (Python 3.14)
from psycopg.rows import dict_row
from psycopg_pool import PoolTimeout

from app.db import wire
from app.db.checked_pool import CheckedPool, wait_timed_out
from app.db.scoped_settings import scoped_settings
from app.db.wire import Result as Result  # a one-round-trip read's columns and rows (app/http/hot_reads.py)
from app.db.wire import WireConfig as WireConfig  # the door's wire settings, for whoever builds a door
from app.errors import ForbiddenError
from app.errors.database import MissingOrgError
from app.failover.standby import refused_by_standby

log = logging.getLogger("atlas.db")

Params = Sequence[Any] | Mapping[str, Any] | None
Row = dict[str, Any]


def as_org_id(org_id: object) -> uuid.UUID:
    """A valid org id or MissingOrgError: None, '' and non-UUIDs never reach SQL."""
    if org_id is None or org_id == "":
        raise MissingOrgError("no organization is active for this work; tenant data needs one")
    if isinstance(org_id, uuid.UUID):
        return org_id
    try:
        return uuid.UUID(str(org_id))
    except ValueError:
        raise MissingOrgError(f"{org_id!r} is not an organization id") from None



class Scope:
    """One open, scoped transaction. Rows come back as dicts."""

    def __init__(self, conn: psycopg.Connection, org_id: uuid.UUID | None,
                 user_id: uuid.UUID | None = None) -> None:
        self.conn = conn
        self.org_id = org_id
        self.user_id = user_id

    def execute(self, query: Query, params: Params = None) -> psycopg.Cursor[Row]:
        cur = self.conn.cursor(row_factory=dict_row)
        return cur.execute(query, params)

    def fetch_all(self, query: Query, params: Params = None) -> list[Row]:
        return self.execute(query, params).fetchall()

    def fetch_one(self, query: Query, params: Params = None) -> Row | None:
        return self.execute(query, params).fetchone()

    def fetch_value(self, query: Query, params: Params = None) -> Any:
        row = self.conn.execute(query, params).fetchone()
        return None if row is None else row[0]


# The transaction that this thread's org transactions join (Database.joining), if any.
_joined: ContextVar[tuple[Database, Scope] | None] = ContextVar("atlas_joined_transaction", default=None)


def _text(query: sql.Composable | str, conn: psycopg.Connection) -> str:
    return query if isinstance(query, str) else query.as_string(conn)


class ConnectionSource(Protocol):
    """Where connections come from when not from a single pool: the per-org registry (app/pools)."""

    def open(self, *, warmup: bool = ...) -> Any: ...
    def close(self) -> None: ...
    def connection(self, org_id: object) -> AbstractContextManager[psycopg.Connection]: ...
    def base_connection(self) -> AbstractContextManager[psycopg.Connection]: ...


class Database:
    """Application-role connections and the scoped transactions on them.

    Connections come from one pool of its own, or from a ConnectionSource (the
    per-org pool registry), which is asked with the transaction's org so that
    per-org quotas and pools apply to every scoped transaction.
    """

    def __init__(
        self,
        conninfo: str | None = None,
        *,
        min_size: int = 1,
        max_size: int = 10,
        timeout_s: float = 10.0,
        name: str = "atlas-app",
        source: ConnectionSource | None = None,
        wire_config: WireConfig = wire.DEFAULT,
    ) -> None:
        if (conninfo is None) == (source is None):
            raise ValueError("Database needs exactly one of conninfo and source")
        self.source = source
        self.wire = wire_config  # statement mode and answer deadline of this door's one-round-trip reads
        self.pool: CheckedPool | None = None
        if conninfo is not None:
            self.pool = CheckedPool(
                conninfo,
                min_size=min_size,
                max_size=max_size,
                timeout=timeout_s,
                kwargs={"autocommit": True},
                prepared_statements=wire_config.named,
                name=name,
                open=False,
            )

    def open(self, *, wait: bool = True) -> Database:
        if self.pool is not None:
            self.pool.open(wait=wait)
        elif self.source is not None:
            self.source.open(warmup=wait)
        return self

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        elif self.source is not None:
            self.source.close()

    @contextmanager
    def _connection(self, org_id: uuid.UUID | None = None) -> Iterator[psycopg.Connection]:
        """An autocommit connection; with a source, the org's pool or quota (base pool without org).

        Private: code outside the door asks for a transaction or a read, never a connection.
        """
        if self.source is not None:
            chosen = self.source.connection(org_id) if org_id is not None else self.source.base_connection()
            with chosen as conn:
                if not self.wire.named:
                    conn.prepare_threshold = None  # psycopg must not prepare its own statements either
                yield conn
            return
        conn = self._getconn()
        try:
            yield conn
        finally:
            self._putconn(conn)

    def _getconn(self) -> psycopg.Connection:
        assert self.pool is not None
        try:
            return self.pool.getconn()
        except PoolTimeout as exc:
            raise wait_timed_out(self.pool, waited_s=self.pool.timeout, what=f"the pool {self.pool.name!r}",
                                 hint="raise ATLAS_POOL_MAX_SIZE or ATLAS_POOL_TIMEOUT_S") from exc

    def _putconn(self, conn: psycopg.Connection) -> None:
        assert self.pool is not None
        self.pool.putconn(conn)

    @contextmanager
    def transaction(
        self, org_id: object, *, user_id: object = None, read_only: bool = False
    ) -> Iterator[Scope]:
        """A transaction scoped to one org (RLS sees only its rows).

        Raises MissingOrgError, before touching the pool, when org_id is missing.
        """
        org = as_org_id(org_id)
        user = None if user_id is None else uuid.UUID(str(user_id))
        joined = _joined.get()
        if joined is not None and joined[0] is self and (joined[1].org_id, joined[1].user_id) == (org, user):
            with joined[1].conn.transaction():  # a savepoint: this block's failure undoes only its work
                yield Scope(joined[1].conn, org, user)
            return
        settings = {"app.org_id": str(org)}
        if user is not None:
            settings["app.user_id"] = str(user)
        with self._scoped(settings, read_only=read_only, org=org) as scope:
            scope.org_id, scope.user_id = org, user
            yield scope

    @contextmanager
    def joining(self, scope: Scope) -> Iterator[Scope]:
        """Inside, this thread's transactions for the scope's org and user run in `scope`.

        Everything the block writes commits or rolls back with `scope` (app/http/idempotency.py
        records a request's key in the same transaction as the request's write). Work that
        must outlive a rollback (audit.record_refusal) uses `separate_transaction`.
        """
        token = _joined.set((self, scope))
        try:
            yield scope
        finally:
            _joined.reset(token)

    @contextmanager
    def separate_transaction(self, org_id: object, *, user_id: object = None) -> Iterator[Scope]:
        """A transaction of its own even inside `joining` (committed whatever the joined one does)."""
        token = _joined.set(None)
        try:
            with self.transaction(org_id, user_id=user_id) as scope:
                yield scope
        finally:
            _joined.reset(token)

    @contextmanager
    def identity_transaction(
        self,
        *,
        user_id: object = None,
        session_token_hash: str | None = None,
        auth_email: str | None = None,
        sso_lookup: str | None = None,
    ) -> Iterator[Scope]:
        """A transaction with no org, for sign-up, sign-in and session lookup.

        Only global-table policies keyed on these settings admit rows; every
        tenant table stays empty and unwritable (no org is set).
        """
        settings: dict[str, str] = {}
        if user_id is not None:
            settings["app.user_id"] = str(uuid.UUID(str(user_id)))
        if session_token_hash is not None:
            settings["app.session_token_hash"] = session_token_hash
        if auth_email is not None:
            settings["app.auth_email"] = auth_email.lower()
        if sso_lookup is not None:  # SSO sign-in: a provider id or an email domain (sql/141_sso.sql)
            settings["app.sso_lookup"] = sso_lookup.lower()
        with self._scoped(settings, read_only=False) as scope:
            yield scope

    @contextmanager
    def platform_transaction(self, *, user_id: object, org_id: object = None) -> Iterator[Scope]:
        """A read transaction for a platform admin, on the platform role's connection only.

        Declares app.platform_scope, which the platform role's cross-org policies
        require (sql/040_platform.sql), and re-checks in the same transaction
        that app.user_id is a platform admin. With org_id, the org's own
        policies apply too (its members, invitations, conversations, audit).
        """
        settings = {"app.platform_scope": "on", "app.user_id": str(uuid.UUID(str(user_id)))}
        org = as_org_id(org_id) if org_id is not None else None
        if org is not None:
            settings["app.org_id"] = str(org)
        with self._scoped(settings, read_only=False) as scope:
            scope.org_id = org
            role = scope.fetch_value("SELECT platform_role FROM users WHERE id = app.current_user_id()")
            if role != "admin":
                raise ForbiddenError("only platform administrators may do this")
            yield scope

    @contextmanager
    def _scoped(
        self, settings: Mapping[str, str], *, read_only: bool, org: uuid.UUID | None = None
    ) -> Iterator[Scope]:
        with self._connection(org) as conn:
            try:
                with conn.pipeline(), conn.transaction():
                    if read_only:
                        conn.execute("SET TRANSACTION READ ONLY")
                    for statement in scoped_settings(settings):
                        conn.execute(statement)
                    yield Scope(conn, None)
            except psycopg.errors.ReadOnlySqlTransaction as exc:
                standby = refused_by_standby(conn, exc)
                if standby is None:
                    raise
                conn.close()  # the pool replaces it: a new connection reaches the primary
                raise standby from exc

    def read_all(self, org_id: object, query: sql.Composable | str, params: Params = None) -> list[Row]:
        """One scoped read-only query in one round trip, prepared (app/db/wire.py; scripts/bench_rls.py)."""
        if self.source is not None:
            return wire.as_dicts(self.read_many(org_id, [(query, params)])[0])
        org = as_org_id(org_id)
        conn = self._getconn()  # the hot path: no context-manager layers, no list of one statement
        try:
            return wire.scoped_read(conn, org, _text(query, conn), params, config=self.wire)
        finally:
            self._putconn(conn)

    def read_one(self, org_id: object, query: sql.Composable | str, params: Params = None) -> Row | None:
        rows = self.read_all(org_id, query, params)
        return rows[0] if rows else None

    def read_many(self, org_id: object, statements: Sequence[tuple[sql.Composable | str, Params]]) -> list[wire.Result]:
        """Read-only queries for one org in one round trip (several: one snapshot); names and tuples each."""
        org = as_org_id(org_id)
        conn = self._getconn() if self.source is None else None  # the hot path: no context-manager layers
        try:
            if conn is not None:
                return wire.scoped_many(conn, org, [(_text(q, conn), p) for q, p in statements], config=self.wire)
            with self._connection(org) as pooled:
                return wire.scoped_many(pooled, org, [(_text(q, pooled), p) for q, p in statements], config=self.wire)
        finally:
            if conn is not None:
                self._putconn(conn)

    def placed_read(self, org_id: object, query: str, params: Params = None) -> tuple[str | None, list[Row]]:
        """One read of `org_id`'s rows where the org lives now, past any placement cache: (its dedicated
        database or None, the rows). With placement (app/placement/router.py) its source decides;
        without, every org lives here. The door for lookups that decide who may act (docs/placement.md).
        """
        org = as_org_id(org_id)
        routed = getattr(self.source, "placed_read", None)
        if routed is not None:
            return routed(org, query, params)  # type: ignore[no-any-return]  # PlacedSource.placed_read
        return None, self.base_read(org, query, params)

    def base_read(self, org_id: object, query: str, params: Params = None) -> list[Row]:
        """One scoped read in the shared database (its base pool), whatever the org's placement: control
        tables that say who may act (app/auth/api_keys.py), read in one round trip."""
        return read_on(self._connection(), org_id, query, params, config=self.wire)

    def insert_returning(self, org_id: object, *, user_id: object, query: str, params: Params = None) -> Row:
        """One INSERT ... RETURNING (with any CTE, e.g. its audit row) as `user_id` in `org_id`: committed in
        one round trip, or, inside `joining` (an Idempotency-Key's transaction), in a savepoint of it."""
        org, user = as_org_id(org_id), uuid.UUID(str(user_id))
        if _joined.get() is not None:
            with self.transaction(org, user_id=user) as scope:
                row = scope.fetch_one(query, params)
            assert row is not None  # RETURNING always yields the inserted row
            return row
        with self._connection(org) as conn:
            names, rows = wire.scoped_write(conn, org, user, query, params, config=self.wire)
        return dict(zip(names, rows[0]))

    def joined(self) -> bool:
        """True inside `joining` (an Idempotency-Key's transaction): writes must then take its scope."""
        return _joined.get() is not None

    def session_read(self, session_token_hash: str, statements: Sequence[tuple[sql.Composable | str, Params]] = (),
                     ) -> tuple[Row | None, list[wire.Result]]:
        """app.resolve_session and `statements` as its org: one round trip, one snapshot (app/http/hot_reads.py)."""
        with self._connection() as conn:
            return wire.session_read(conn, session_token_hash, [(_text(q, conn), p) for q, p in statements],
                                     config=self.wire)

    def session_write(self, session_token_hash: str, query: sql.Composable | str, params: Params = None,
                      ) -> tuple[Row | None, wire.Result]:
        """app.resolve_session and one write as its org and user: one round trip, one transaction (app/http/hot_reads.py)."""
        with self._connection() as conn:
            return wire.session_write(conn, session_token_hash, _text(query, conn), params, config=self.wire)


def read_on(lent: AbstractContextManager[psycopg.Connection], org_id: object, query: str, params: Params = None, *,
            config: WireConfig) -> list[Row]:
    """One scoped read-only query in one round trip on a connection `lent` by a connection source beneath
    the door (the placement router's lookups): the source picks the database, the door speaks the wire."""
    org = as_org_id(org_id)
    with lent as conn:
        return wire.scoped_read(conn, org, query, params, config=config)
