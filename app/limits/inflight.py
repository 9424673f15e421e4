"""Agent work in flight: a per-org limit every worker shares, and a per-process thread cap.

`with limiter.slot(org_id, limit=n):` passes its gates, neither of which ever
waits, before agent work takes a connection (the HTTP query endpoint calls it;
MCP tool calls and jobs are meant to call the same):

1. One of the org's `n` slots (setting queryMaxInFlight). A slot is a session
   advisory lock, `pg_try_advisory_lock(KEYSPACE, slot_key(org, i))`, held on a
   connection of this process's own: every worker and app server on the same
   database sees it, and it vanishes with a dead connection or process. All
   slots taken: 429 too_many_concurrent_queries at once, with a Retry-After of 1-3 s (jittered).
2. With a platform limit (ATLAS_QUERY_MAX_IN_FLIGHT_TOTAL), one of the platform's
   slots, the same kind of lock under a pseudo-org: all taken, 503
   agent_platform_busy at once. It bounds the agent queries every org together
   runs on the database, and with it their memory (each bounded by the gateway's
   ATLAS_QUERY_MAX_VALUE_BYTES and work_mem).
3. This process's share of threads for agent work (`process_threads`,
   ATLAS_AGENT_THREADS_PER_WORKER): past it, 503 agent_capacity_exhausted at
   once, so agent work never occupies every request thread CRM, auth and admin
   requests need.

A refusal must cost less than the work it refuses: an org flooding past its
limit sends mostly requests that will be refused, and each one that reaches
gate 1 has already paid for its settings, its rate token (a write), its semantic
layer and the lock attempt, on the primary other orgs' requests share
(scripts/bench_noisy.py). So for `refusal_hint_s` (3 s, the longest Retry-After,
so a refused client's return finds it) after `slot()` refused an org in this
process, `recent_refusal(org)` counts first, in one round trip that takes no
lock (pg_locks), whether the org's slots are all still taken, and if so refuses
at once: the query's own work is never done. One free slot, or one of the org's
slots released here, ends the hint. The count is exact at that instant, so
nothing is refused that `slot()` would admit, except that the limit counted is
the one `slot()` last refused with: a raised queryMaxInFlight reaches an org
at its limit within 3 s.

The connection must keep one server session (ATLAS_INFLIGHT_DATABASE_URL, by
default the app URL: direct, or a session-mode pool). Every lock is taken in the
same statement that checks the session is the one the connection opened, so a
transaction-mode pooler swapping sessions is refused loudly (a 500 naming the
setting) instead of leaving locks behind on pooled server sessions.

A session re-acquires a lock it already holds, so the process remembers which
slots it holds and never asks for those again. Keys hash (org, slot) into 32
bits in a key space of their own; two orgs colliding would at worst share a
slot (an early 429), never exceed a limit. Only the app role may call
advisory-lock functions (sql/060_inflight.sql); the gateway refuses them too.
"""
from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import overload

import psycopg

from app.db import as_org_id
from app.db.connect import open_connection
from app.errors.configuration import ConfigurationError
from app.errors.database import DatabaseUnavailableError
from app.errors.limits import AgentCapacityError, AgentPlatformBusyError, TooManyConcurrentQueriesError

log = logging.getLogger("atlas.inflight")

KEYSPACE = 0x41544C01  # first key of the two-int advisory lock form: Atlas in-flight slots
# Retry-After of a refusal: 1 to 3 s at random, so clients refused together do not all
# come back in the same second (a thundering herd that costs every other org latency).
RETRY_AFTER_S = (1, 3)
REFUSAL_HINT_S = float(RETRY_AFTER_S[1])  # how long after a refusal an org's slots are counted before its work
PLATFORM = uuid.UUID(int=0)  # the pseudo-org whose slots are the platform's (no org has this id)


# CASE: the lock function runs only once the session is known to be the right one.
_TRY_LOCK = "SELECT pg_backend_pid(), CASE WHEN pg_backend_pid() = %s THEN pg_try_advisory_lock(%s, %s) END"
# How many of the given slots some session holds now; reads the lock table, takes nothing.
_TAKEN = ("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2"
          " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
          " AND classid = %s::int4::oid AND objid = ANY(%s::int4[]::oid[])")


def slot_key(org_id: uuid.UUID, slot: int) -> int:
    """The second lock key: 32 signed bits derived from the org and the slot number."""
    digest = hashlib.blake2b(org_id.bytes + slot.to_bytes(4, "big"), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


class InflightLimiter:
    """Per-org slots as advisory locks on one connection per process, plus a per-process thread cap."""

    def __init__(self, conninfo: str, *, process_threads: int, connect_timeout_s: float = 5.0,
                 keyspace: int = KEYSPACE, platform_limit: int = 0, refusal_hint_s: float = REFUSAL_HINT_S) -> None:
        if process_threads < 1:
            raise ValueError("process_threads must be at least 1")
        if platform_limit < 0:
            raise ValueError("platform_limit must be 0 (off) or more")
        self.process_threads = process_threads
        self.keyspace = keyspace  # another limiter (the agent's questions) counts in a key space of its own
        self.platform_limit = platform_limit
        self._conninfo = conninfo
        self._connect_timeout_s = connect_timeout_s
        self._threads = threading.BoundedSemaphore(process_threads)
        self._lock = threading.Lock()  # guards the connection and _held
        self._conn: psycopg.Connection | None = None
        self._generation = 0  # bumped when the connection (and with it every lock) is lost
        self._held: set[tuple[uuid.UUID, int]] = set()
        self._pid = 0  # the server session the connection opened, which must hold every lock
        self.refusal_hint_s = refusal_hint_s
        self._refused: dict[uuid.UUID, tuple[float, int]] = {}  # org -> (counted before its work until, limit)

    @contextmanager
    def slot(self, org_id: object, *, limit: int) -> Iterator[int]:
        """Hold one of the org's `limit` slots (and a thread share) for the block; yields the slot number.

        Raises AgentCapacityError (503) or TooManyConcurrentQueriesError (429) at
        once, DatabaseUnavailableError (503) when the database cannot be reached.
        """
        org = as_org_id(org_id)
        number, generation = self._acquire(org, limit)
        try:
            with self._platform_slot():
                if not self._threads.acquire(blocking=False):
                    raise self.process_refusal()
                try:
                    yield number
                finally:
                    self._threads.release()
        finally:
            self._release(org, number, generation)

    def recent_refusal(self, org_id: object) -> Exception | None:
        """The org's refusal when `slot()` refused it here less than `refusal_hint_s` ago and its slots are
        all still taken (one round trip, no lock taken); else None, and the caller goes on to `slot()`."""
        org = as_org_id(org_id)
        with self._lock:
            hint = self._refused.get(org)
            if hint is None:
                return None
            until, limit = hint
            if time.monotonic() >= until:
                del self._refused[org]
                return None
            try:
                row = self._connection().execute(
                    _TAKEN, (self.keyspace, [slot_key(org, n) for n in range(limit)])).fetchone()
            except psycopg.Error:
                return None  # slot() reconnects, or says why it cannot
            if row is None or row[0] < limit:
                del self._refused[org]
                return None
        return self.org_refusal(limit)

    @contextmanager
    def _platform_slot(self) -> Iterator[None]:
        """One of the platform's slots when a platform limit is set (503 agent_platform_busy at once)."""
        if not self.platform_limit:
            yield
            return
        taken = self._acquire(PLATFORM, self.platform_limit, refuse=False)
        if taken is None:
            raise AgentPlatformBusyError(
                f"the platform already runs {self.platform_limit} agent queries at once, for all organizations"
                " together (ATLAS_QUERY_MAX_IN_FLIGHT_TOTAL); retry shortly",
                retry_after_s=random.randint(*RETRY_AFTER_S))
        number, generation = taken
        try:
            yield
        finally:
            self._release(PLATFORM, number, generation)

    def held(self) -> int:
        """Slots this process holds now (for tests and metrics)."""
        with self._lock:
            return len(self._held)

    def close(self) -> None:
        with self._lock:
            self._drop_connection()

    @overload
    def _acquire(self, org: uuid.UUID, limit: int) -> tuple[int, int]: ...
    @overload
    def _acquire(self, org: uuid.UUID, limit: int, *, refuse: bool) -> tuple[int, int] | None: ...

    def _acquire(self, org: uuid.UUID, limit: int, *, refuse: bool = True) -> tuple[int, int] | None:
        """A free slot of `org` and the connection's generation; all taken: the org's refusal, or None."""
        with self._lock:
            for attempt in (1, 2):  # a connection that died with a database restart is replaced once
                try:
                    number = self._try_slots(self._connection(), org, limit)
                    break
                except psycopg.OperationalError as exc:
                    self._drop_connection()  # its locks died with it
                    if attempt == 2:
                        raise DatabaseUnavailableError(
                            "the database is unreachable (the in-flight limiter could not connect);"
                            " retry shortly") from exc
            if number is not None:
                self._held.add((org, number))
                return number, self._generation
            if refuse and self.refusal_hint_s > 0:
                self._refused[org] = (time.monotonic() + self.refusal_hint_s, limit)
        if not refuse:
            return None
        raise self.org_refusal(limit)

    def org_refusal(self, limit: int) -> Exception:
        """The error when the org's slots are all taken (a subclass names its own setting)."""
        return TooManyConcurrentQueriesError(
            f"this organization already runs {limit} agent queries at once (setting queryMaxInFlight);"
            " retry when one finishes", retry_after_s=random.randint(*RETRY_AFTER_S))

    def process_refusal(self) -> Exception:
        """The error when this process's share of threads is busy."""
        return AgentCapacityError(f"this worker already runs {self.process_threads} agent queries"
                                  " (ATLAS_AGENT_THREADS_PER_WORKER); retry shortly")

    def _try_slots(self, conn: psycopg.Connection, org: uuid.UUID, limit: int) -> int | None:
        """Under the lock: the first of the org's slots this process can lock, or None."""
        start = random.randrange(limit) if org == PLATFORM else 0  # spread the platform's many slots
        for number in ((start + i) % limit for i in range(limit)):
            if (org, number) in self._held:
                continue
            # Locks only in the session the connection opened: one a pooler swapped in would keep it forever.
            row = conn.execute(_TRY_LOCK, (self._pid, self.keyspace, slot_key(org, number))).fetchone()
            assert row is not None
            if row[0] != self._pid:
                self._drop_connection()
                raise ConfigurationError(
                    f"the in-flight limiter's connection moved from server session {self._pid} to {row[0]}"
                    " between statements (a transaction-mode pooler?): ATLAS_INFLIGHT_DATABASE_URL (default"
                    " ATLAS_APP_DATABASE_URL) must reach PostgreSQL directly or through a session-mode pool"
                    " (docs/scaling.md)")
            if row[1]:
                return number
        return None

    def _release(self, org: uuid.UUID, number: int, generation: int) -> None:
        with self._lock:
            if generation != self._generation or self._conn is None:
                return  # the connection died: the lock went with it
            self._held.discard((org, number))
            self._refused.pop(org, None)  # one of its slots is free now
            try:
                row = self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", (self.keyspace, slot_key(org, number))
                                         ).fetchone()
            except psycopg.Error:
                log.warning("could not release an in-flight slot; dropping the connection (and its locks)")
                self._drop_connection()
                return
            if not (row and row[0]):  # another server session answered: the lock stays where it was taken
                log.error("an in-flight slot of org %s was not held by this connection's session: is"
                          " ATLAS_INFLIGHT_DATABASE_URL behind a transaction-mode pooler? (docs/scaling.md)", org)
                self._drop_connection()

    def _connection(self) -> psycopg.Connection:
        """Under the lock: the process's lock connection, (re)opened on demand."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._drop_connection()
            self._conn = open_connection("limits.inflight", self._conninfo, autocommit=True,
                                         connect_timeout=max(1, round(self._connect_timeout_s)),
                                         application_name="atlas-inflight")
            row = self._conn.execute("SELECT pg_backend_pid()").fetchone()
            self._pid = row[0] if row else 0
        return self._conn

    def _drop_connection(self) -> None:
        """Under the lock: close the connection; its advisory locks die with it."""
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
            self._conn = None
        if self._held:
            self._generation += 1
            self._held.clear()
