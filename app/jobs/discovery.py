"""Where the due jobs are: the shared database and every dedicated database an org is placed in.

An org in a dedicated database (app/placement) keeps its jobs there, so asking
the shared database alone never ran them (issue 24 item 4). The worker role
asks app.job_databases() in the shared database which dedicated databases exist
(locations only, sql/102_job_databases.sql), then app.due_jobs() in each of
them, logged in there with its own credentials as every Atlas role is
(app/placement/locations.py).

Fairness across orgs and databases: each database answers its candidates
fairest first (orgs running fewest jobs, then round-robin after the org the
worker served last); the lists are merged by that rank, so every database's
best candidate comes before any database's second, and candidates of one rank
go round-robin by org id across databases. A database's backlog never hides
another's jobs, and an org takes one turn like any other wherever it lives.

A candidate read where its org no longer lives (a copy a move has not cleaned
up yet) is skipped, by the placement the claim itself routes with (cached, so
the check costs the claim nothing). A dedicated database that cannot be reached
is skipped and asked again at the next poll; the others' jobs go on.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator

import psycopg

from app.db.connect import open_connection
from app.placement.locations import role_conninfo

log = logging.getLogger("atlas.jobs")

Candidate = tuple[uuid.UUID, uuid.UUID]  # (org id, job id)


class _Link:
    """The worker role's connection to one database (opened on first use, reopened after a failure)."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._conn: psycopg.Connection | None = None

    def rows(self, query: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = open_connection("jobs.discovery", self.conninfo, autocommit=True, connect_timeout=10)
            return list(self._conn.execute(query, params).fetchall())
        except psycopg.OperationalError:
            self.close()
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Discovery:
    """Due-job candidates of every database, fairest first; one per worker thread (its own connections)."""

    def __init__(self, worker_url: str, *, placed_at: Callable[[uuid.UUID], str | None]) -> None:
        self.worker_url = worker_url
        self.placed_at = placed_at  # the org's dedicated database or None (the router's cached placement)
        self._links: dict[str | None, _Link] = {}

    def due(self, *, max_running_per_org: int, limit: int, after_org: uuid.UUID | None = None) -> Iterator[Candidate]:
        """Candidates of every database, merged fairly; each checked against its org's placement as it is taken.

        Raises psycopg.OperationalError when the shared database cannot be reached.
        """
        asked = (max_running_per_org, limit, after_org)
        locations = [str(r[0]) for r in self._link(None).rows("SELECT * FROM app.job_databases()")]
        found: list[tuple[int, bool, uuid.UUID, uuid.UUID, str | None]] = []
        for location in (None, *locations):
            try:
                rows = self._link(location).rows("SELECT org_id, job_id FROM app.due_jobs(%s, %s, %s)", asked)
            except psycopg.Error as exc:
                if location is None:
                    raise
                log.warning("job worker: could not ask %s for due jobs (%s); asking again at the next poll",
                            location, exc)
                continue
            for rank, (org, job) in enumerate(rows):
                assert isinstance(org, uuid.UUID) and isinstance(job, uuid.UUID)
                found.append((rank, after_org is not None and org <= after_org, org, job, location))
        for known in set(self._links) - {None, *locations}:  # a database no org is placed in any more
            self._links.pop(known).close()
        found.sort(key=lambda c: (c[0], c[1], c[2]))
        for _rank, _seen, org, job, location in found[:limit]:
            if not locations or self.placed_at(org) == location:
                yield org, job

    def close(self) -> None:
        for link in self._links.values():
            link.close()
        self._links.clear()

    def _link(self, location: str | None) -> _Link:
        link = self._links.get(location)
        if link is None:
            url = self.worker_url if location is None else role_conninfo(self.worker_url, location)
            link = self._links[location] = _Link(url)
        return link
