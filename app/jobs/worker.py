"""`atlas worker`: run due jobs, one per thread, each in its own org's transactions.

The order of work for one job: find due candidates (app.due_jobs in every
database an org is placed in, fairest org first: app/jobs/discovery.py) →
claim the first one still free (its org's transaction, its org's cap) → run its kind with a lease-renewing heartbeat beside it → record success
(or re-arm a schedule), a retry after backoff, or the dead letter. A worker
that dies mid-job simply stops renewing: once the lease expires the job is due
again and another worker runs it (at least once; every kind is safe to repeat).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from typing import TYPE_CHECKING

import psycopg

from app.config import JobSettings
from app.errors import AtlasError, RateLimitedError, ServiceUnavailableError
from app.errors.operations import JobStoppedError
from app.jobs import queue
from app.jobs.context import JobContext
from app.jobs.discovery import Discovery
from app.jobs.kinds import KINDS

if TYPE_CHECKING:
    from app.db import Row
    from app.services import AtlasServices

log = logging.getLogger("atlas.jobs")
CANDIDATES = 16  # due jobs asked for at once: one per org, so a busy org never hides the others


def permanent(exc: BaseException) -> bool:
    """A client-side refusal (bad SQL, bad payload, not found) fails the same way every time: no retry."""
    return (isinstance(exc, AtlasError) and 400 <= exc.status < 500
            and not isinstance(exc, (RateLimitedError, ServiceUnavailableError)) and exc.status != 429)


class Worker:
    """Runs jobs with the app's services; `run` until `stop` is set, or `run_once` for one job."""

    def __init__(self, services: AtlasServices, config: JobSettings, *, name: str | None = None) -> None:
        self.services, self.config = services, config
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._local = threading.local()
        self._last_org: uuid.UUID | None = None  # the round-robin cursor, shared by this worker's threads

    def run(self, stop: threading.Event) -> None:
        """Run `config.concurrency` loops until `stop` is set; each finishes the job it holds first."""
        threads = [threading.Thread(target=self._loop, args=(stop,), name=f"atlas-job-{n}", daemon=True)
                   for n in range(self.config.concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def run_once(self) -> bool:
        """Claim and run one due job, if there is one; True when a job was run."""
        claimed = self._claim_next()
        if claimed is None:
            return False
        self._execute(*claimed)
        return True

    def close(self) -> None:
        """Close this thread's finder connections (each loop closes its own when it ends)."""
        self._finder().close()

    def _loop(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    ran = self.run_once()
                except (psycopg.OperationalError, ServiceUnavailableError) as exc:
                    log.warning("job worker: database unavailable (%s); retrying", exc)
                    ran = False
                except Exception:  # a bug or a refused statement must not end the loop silently
                    log.exception("job worker: finding or claiming a job failed; retrying")
                    ran = False
                if not ran:
                    stop.wait(self.config.poll_s)
        finally:
            self._finder().close()

    def _finder(self) -> Discovery:
        finder = getattr(self._local, "finder", None)
        if finder is None:
            finder = self._local.finder = Discovery(self.services.settings.database.worker_database_url,
                                                    placed_at=self.services.placement.location)
        return finder

    def _owner(self) -> str:
        return f"{self.name}:{threading.current_thread().name}:{uuid.uuid4().hex[:8]}"

    def _claim_next(self) -> tuple[Row, str, str] | None:
        due = self._finder().due(max_running_per_org=self.config.max_running_per_org, limit=CANDIDATES,
                                 after_org=self._last_org)
        for org_id, job_id in due:
            if queue.marked_for_deletion(self.services.db, org_id):
                self._last_org = org_id  # the round-robin moves past it, so marked orgs never crowd out others
                continue  # left as they are: `atlas org delete --cancel` makes them due again (docs/operations.md)
            owner = self._owner()
            claimed = queue.claim(self.services.db, self.config, org_id, job_id, owner=owner)
            if claimed is not None:
                self._last_org = org_id
                return claimed[0], claimed[1], owner
        return None

    def _execute(self, job: Row, role: str, owner: str) -> None:
        kind = KINDS.get(job["kind"])
        lost = threading.Event()

        def report(done: int, total: int | None, message: str) -> None:
            if lost.is_set() or not queue.renew(self.services.db, self.config, job, owner=owner,
                                                progress=(done, total, message)):
                lost.set()
                raise JobStoppedError(f"job {job['id']} was canceled or its lease was lost")

        stop_heartbeat = threading.Event()
        heartbeat = threading.Thread(target=self._heartbeat, args=(job, owner, lost, stop_heartbeat),
                                     name=f"atlas-job-heartbeat-{job['id']}", daemon=True)
        heartbeat.start()
        try:
            if kind is None:
                raise AtlasError(f"unknown job kind {job['kind']!r}: this worker is older than the job")
            context = JobContext(job=job, org_id=job["org_id"], actor_user_id=job["created_by"], actor_role=role,
                                 services=self.services, config=self.config, reporter=report)
            result = kind.run(context)
        except JobStoppedError:
            log.info("job %s stopped: canceled or lease lost", job["id"])
        except Exception as exc:  # any failure of a job is recorded on the job, never raised
            error = exc.message if isinstance(exc, AtlasError) else f"{type(exc).__name__}: {exc}"
            status = queue.fail(self.services.db, self.config, job, owner=owner, error=error,
                                permanent=kind is None or permanent(exc))
            log.warning("job %s (%s) attempt %s failed: %s -> %s", job["id"], job["kind"], job["attempts"],
                        error, status)
        else:
            if not queue.succeed(self.services.db, job, owner=owner, result=result):
                log.info("job %s finished after it was canceled or its lease was lost", job["id"])
        finally:
            stop_heartbeat.set()
            heartbeat.join()

    def _heartbeat(self, job: Row, owner: str, lost: threading.Event, stop: threading.Event) -> None:
        """Renew the lease three times per lease period while the job runs."""
        while not stop.wait(self.config.lease_s / 3):
            try:
                if not queue.renew(self.services.db, self.config, job, owner=owner):
                    lost.set()
                    return
            except (psycopg.Error, AtlasError) as exc:
                log.warning("job %s: lease renewal failed (%s); trying again", job["id"], exc)
