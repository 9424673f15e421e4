"""What a database error means, decided by its class (never its message text), in one place.

The same class means different things by who sent the statement. For the
application role (the API's own queries) `refusal` gives the status, code and
message app/http/errors.py answers with. For agent SQL (app/gateway/execute.py)
`agent_error` gives the AtlasError the gateway raises: there a QueryCanceled is
the query's own statement_timeout, the agent's to fix (400 query_timeout),
while for the application role it is a busy server (503). For the pools
(app/pools) `is_connection_failure` tells a dead connection from a failed query.
"""
from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import errors as pg
from psycopg_pool import PoolTimeout, TooManyRequests

from app.errors.query import QueryTimeoutError, SqlInvalidError, SqlRejectedError


@dataclass(frozen=True)
class Refusal:
    """The API's answer to a database error raised by the application's own statements."""

    status: int
    code: str
    message: str
    retry_after_s: int | None = None


# The first matching class wins, so subclasses come before their bases.
_REFUSALS: tuple[tuple[type[BaseException], Refusal], ...] = (
    (pg.InsufficientPrivilege, Refusal(403, "forbidden", "this change is not permitted")),
    (pg.UniqueViolation, Refusal(409, "conflict", "a record with these values already exists")),
    (pg.CheckViolation, Refusal(400, "validation_error", "a value is outside its allowed range")),
    (pg.ForeignKeyViolation, Refusal(400, "validation_error", "a referenced record does not exist")),
    (pg.NotNullViolation, Refusal(400, "validation_error", "a required value is missing")),
    (pg.InvalidTextRepresentation, Refusal(400, "validation_error", "a value has the wrong format")),
    (pg.StringDataRightTruncation, Refusal(400, "validation_error", "a value is too long")),
    (pg.NumericValueOutOfRange, Refusal(400, "validation_error", "a number is out of range")),
    # Any other value the database cannot take (a character it cannot store, a
    # division by zero in agent SQL): the request's fault, not the server's.
    (psycopg.DataError, Refusal(400, "validation_error", "a value cannot be processed by the database")),
    # The app role's own timeouts (ATLAS_APP_LOCK_TIMEOUT_MS, ATLAS_APP_STATEMENT_TIMEOUT_MS):
    # a row another transaction holds is a conflict worth retrying; a slow statement, a busy server.
    (pg.LockNotAvailable, Refusal(409, "lock_timeout",
                                  "a record is locked by another change; retry shortly (ATLAS_APP_LOCK_TIMEOUT_MS)",
                                  retry_after_s=1)),
    # A serialization failure or a deadlock (class 40) rolled the transaction back: retry it.
    # Listed before OperationalError, its base, whose message says the database is down.
    *((cls, Refusal(409, "transaction_conflict",
                    "the change conflicted with a concurrent one and was rolled back; retry it", retry_after_s=1))
      for cls in (pg.SerializationFailure, pg.DeadlockDetected, pg.TransactionRollback)),
    # A write refused as read-only. The door tells a standby (a failover) from a READ ONLY transaction
    # itself (app/failover/standby.py); a path that does not is answered as the likelier of the two.
    (pg.ReadOnlySqlTransaction, Refusal(503, "database_read_only",
                                        "the database refused a write as read-only: the server reached may be a"
                                        " standby (a failover is under way, or DATABASE_URL lacks"
                                        " target_session_attrs=read-write); retry shortly", retry_after_s=1)),
    (pg.QueryCanceled, Refusal(503, "statement_timeout",
                               "the database took too long to answer; retry shortly (ATLAS_APP_STATEMENT_TIMEOUT_MS)")),
    (psycopg.OperationalError, Refusal(503, "database_unavailable",
                                       "the database is unavailable right now; retry shortly")),
    # Pools Atlas opens raise their own 503 naming the cause (app/db/checked_pool.py); this is the fallback.
    (PoolTimeout, Refusal(503, "service_unavailable",
                          "no database connection could be had in time: the database may be unavailable;"
                          " retry shortly")),
)


# SQLSTATE of the org_hold trigger (sql/095_placement.sql): the org's writes are held by a move
# or it lives in another database. app/placement/router.py raises OrgMovingError for it at the
# door; this is the fallback for code that catches a database error itself.
ORG_MOVING = Refusal(503, "org_moving", "this organization is being moved; retry shortly", retry_after_s=1)


def refusal(exc: BaseException) -> Refusal | None:
    """The API's answer to a database error, or None when it is unexpected (a 500)."""
    if isinstance(exc, psycopg.Error) and exc.sqlstate == "AT503":
        return ORG_MOVING
    for cls, answer in _REFUSALS:
        if isinstance(exc, cls):
            return answer
    return None


def agent_error(exc: psycopg.Error, *, statement_timeout_ms: int) -> Exception:
    """The gateway's error for agent SQL the database refused; `exc` itself when it is no fault of the query."""
    diag = (exc.diag.message_primary or str(exc)).strip()
    if isinstance(exc, pg.QueryCanceled):
        return QueryTimeoutError(
            f"the query ran longer than {statement_timeout_ms} ms "
            "(query.statement_timeout_ms); narrow it or aggregate more"
        )
    if isinstance(exc, (pg.InsufficientPrivilege, pg.ReadOnlySqlTransaction)):
        return SqlRejectedError(f"the database refused the query: {diag}")
    if isinstance(exc, (pg.ProgramLimitExceeded, pg.ConfigurationLimitExceeded)):
        return SqlRejectedError(f"the query exceeds a database limit: {diag}")
    if isinstance(exc, (psycopg.DataError, psycopg.ProgrammingError, psycopg.NotSupportedError,
                        psycopg.IntegrityError, psycopg.InternalError)):
        return SqlInvalidError(f"the query failed: {diag}")
    return exc


def is_connection_failure(exc: BaseException | None) -> bool:
    """A connection-level failure (server gone, connection broken), not a query error or a wait."""
    if exc is None or isinstance(exc, (PoolTimeout, TooManyRequests, pg.QueryCanceled, pg.LockNotAvailable,
                                       pg.SerializationFailure, pg.DeadlockDetected, pg.TransactionRollback)):
        return False
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))
