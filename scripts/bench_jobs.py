"""Background jobs: throughput, and whether a busy org delays another org's job by more than one job.

Run: .venv/bin/python scripts/bench_jobs.py [--workers 2] [--short-jobs 2000] [--backlog 10000]
                                            [--job-s 0.2] [--samples 5] [--poll-s 0.05]
Builds a migrated database of its own, creates orgs A and B (an admin each),
starts `--workers` `atlas worker` processes (one job at a time each, the
default), and measures, in one run:

    throughput    --short-jobs jobs of no work (kind `sleep`, 0 s) queued at once in A:
                  jobs per second from the insert to the last one finished
    empty queue   a single job of B, queued with nothing else queued: the delay from its
                  insert to its start (locked_at - created_at), --samples times
    backlog       the same while A has --backlog queued jobs of --job-s seconds each
                  and both workers are busy with them

Prints the median and the worst delay of each, the backlog/empty ratio, and
checks the promise of the README: with a backlog, B's job waits at most one
job's run time (plus one poll and the claim) per worker, where a FIFO queue
would make it wait for the whole backlog. A miss prints MISS. Everything
created is dropped at the end.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from app.devdb.databases import DatabaseFactory, TestDatabase
from app.devdb.server import find_or_start


def make_org_admin(conn: psycopg.Connection, name: str) -> tuple[uuid.UUID, uuid.UUID]:
    """An org and an admin member of it (jobs only run for a creator who is admin or owner)."""
    org, user = uuid.uuid4(), uuid.uuid4()
    conn.execute("INSERT INTO organizations (id, name, slug) VALUES (%s, %s, %s)", (org, name, f"bench-{name}"))
    conn.execute("INSERT INTO users (id, email, name, password_hash) VALUES (%s, %s, %s, 'unused')",
                 (user, f"admin@{name}.bench", name))
    conn.execute("INSERT INTO members (org_id, user_id, role) VALUES (%s, %s, 'admin')", (org, user))
    return org, user


def enqueue(conn: psycopg.Connection, org: tuple[uuid.UUID, uuid.UUID], *, count: int, seconds: float) -> None:
    """`count` queued `sleep` jobs in one statement (as the set-up superuser; workers run them as usual)."""
    conn.execute(
        "INSERT INTO jobs (org_id, kind, payload, created_by)"
        " SELECT %s, 'sleep', jsonb_build_object('seconds', %s::float8), %s FROM generate_series(1, %s)",
        (org[0], seconds, org[1], count))


def start_workers(db: TestDatabase, *, count: int, poll_s: float, workdir: str, log: Any) -> list[subprocess.Popen]:
    env = {**os.environ, "DATABASE_URL": db.admin_url,
           "ATLAS_ROLE_PREFIX": db.roles.owner.removesuffix("_owner"), "ATLAS_CONFIG": os.devnull + ".absent",
           "ATLAS_SEMANTIC_ROOT": workdir, "ATLAS_JOB_POLL_S": str(poll_s), "ATLAS_JOB_MAX_RUNNING_PER_ORG": "2"}
    return [subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], cwd=workdir, env=env,
                             stdout=subprocess.DEVNULL, stderr=log) for _ in range(count)]


def wait(conn: psycopg.Connection, query: str, params: Any, *, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        row = conn.execute(query, params).fetchone()
        value = None if row is None else row[0]
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout_s:.0f} s waiting for: {query}")
        time.sleep(0.01)


def single_job_delays(conn: psycopg.Connection, org: tuple[uuid.UUID, uuid.UUID], *, samples: int) -> list[float]:
    """Seconds from insert to start of one job of `org`, `samples` times, one after the other."""
    delays = []
    for _ in range(samples):
        job = conn.execute("INSERT INTO jobs (org_id, kind, payload, created_by) VALUES (%s, 'sleep', '{}', %s)"
                           " RETURNING id", org).fetchone()[0]
        delay = wait(conn, "SELECT extract(epoch FROM locked_at - created_at) FROM jobs WHERE id = %s"
                           " AND locked_at IS NOT NULL", (job,), timeout_s=120)
        delays.append(float(delay))
        wait(conn, "SELECT status = 'succeeded' FROM jobs WHERE id = %s", (job,), timeout_s=120)
    return delays


def run(args: argparse.Namespace, db: TestDatabase, log: Any) -> dict[str, Any]:
    with psycopg.connect(db.admin_url, autocommit=True) as conn, tempfile.TemporaryDirectory() as workdir:
        org_a, org_b = make_org_admin(conn, "a"), make_org_admin(conn, "b")
        workers = start_workers(db, count=args.workers, poll_s=args.poll_s, workdir=workdir, log=log)
        try:
            time.sleep(3)  # let the workers start (import, pools) before anything is timed
            if any(w.poll() is not None for w in workers):
                raise SystemExit("a worker exited at start; see its log")
            started = conn.execute("SELECT clock_timestamp()").fetchone()[0]
            enqueue(conn, org_a, count=args.short_jobs, seconds=0)
            wait(conn, "SELECT count(*) = %s FROM jobs WHERE status = 'succeeded'", (args.short_jobs,),
                 timeout_s=600)
            took = conn.execute("SELECT extract(epoch FROM max(finished_at) - %s) FROM jobs", (started,)).fetchone()[0]
            conn.execute("DELETE FROM jobs")
            empty = single_job_delays(conn, org_b, samples=args.samples)
            enqueue(conn, org_a, count=args.backlog, seconds=args.job_s)
            wait(conn, "SELECT count(*) = %s FROM jobs WHERE status = 'running'", (args.workers,), timeout_s=60)
            backlog = single_job_delays(conn, org_b, samples=args.samples)
            queued = conn.execute("SELECT count(*) FROM jobs WHERE org_id = %s AND status = 'queued'",
                                  (org_a[0],)).fetchone()[0]
            # What "one job's run time" really was: A's backlog jobs as run, progress reports included.
            a_run_s = conn.execute("SELECT max(extract(epoch FROM finished_at - locked_at)) FROM jobs"
                                   " WHERE org_id = %s AND status = 'succeeded'", (org_a[0],)).fetchone()[0]
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
    return {"jobs_per_s": args.short_jobs / float(took), "empty": empty, "backlog": backlog, "queued": queued,
            "a_run_s": float(a_run_s or args.job_s)}


def report(args: argparse.Namespace, result: dict[str, Any]) -> None:
    empty, backlog = result["empty"], result["backlog"]
    print(f"workers: {args.workers} (one job at a time each); poll {args.poll_s * 1000:.0f} ms")
    print(f"throughput: {args.short_jobs} short jobs in one org: {result['jobs_per_s']:.0f} jobs/s")
    print(f"B's single job, delay to start (median / worst of {args.samples}):")
    print(f"  empty queue                 {statistics.median(empty) * 1000:7.1f} ms / {max(empty) * 1000:7.1f} ms")
    print(f"  A has {args.backlog:,} queued ({result['queued']:,} still queued at the end), each {args.job_s:g} s"
          f"  {statistics.median(backlog) * 1000:7.1f} ms / {max(backlog) * 1000:7.1f} ms")
    print(f"ratio backlog/empty (median): {statistics.median(backlog) / max(statistics.median(empty), 1e-6):.1f}x")
    bound = result["a_run_s"] + max(empty)  # one of A's jobs as it really ran, plus the empty-queue delay
    fifo = args.backlog * args.job_s / args.workers
    verdict = "ok" if max(backlog) <= bound else "MISS"
    print(f"worst delay with the backlog {max(backlog):.3f} s vs the longest run of one of A's jobs "
          f"({result['a_run_s']:.3f} s) + the worst empty-queue delay = {bound:.3f} s: {verdict}"
          f" (a FIFO queue would wait about {fifo:,.0f} s)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="atlas worker processes (default 2)")
    parser.add_argument("--short-jobs", type=int, default=2000, help="jobs of the throughput phase")
    parser.add_argument("--backlog", type=int, default=10_000, help="A's queued jobs in the backlog phase")
    parser.add_argument("--job-s", type=float, default=0.2, help="run time of each of A's backlog jobs")
    parser.add_argument("--samples", type=int, default=5, help="B's single jobs per phase")
    parser.add_argument("--poll-s", type=float, default=0.05, help="ATLAS_JOB_POLL_S of the workers")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    factory = DatabaseFactory(find_or_start())
    factory.build_template()
    db = factory.clone()
    with tempfile.NamedTemporaryFile("w+", prefix="bench-jobs-", suffix=".log", delete=False) as log:
        try:
            result = run(args, db, log)
        except BaseException:
            log.flush()
            print(Path(log.name).read_text()[-4000:], file=sys.stderr)
            raise
        finally:
            factory.drop_all()
    os.unlink(log.name)
    report(args, result)


if __name__ == "__main__":
    main()
