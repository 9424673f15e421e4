"""Noisy neighbours: does org B keep its latency while org A floods the server?

Run: .venv/bin/python -m scripts.bench_noisy [--phase-s 25] [--rate 30] [--workers 2] [--threads 4]
                                             [--flood-factor 4] [--writers 2] [--phases shared,perorg,replica]
Builds a migrated database of its own, starts granian (2 workers x 4
threads as `atlas serve`) on the production app, signs up org A and org B
through the API, then measures org B - GET /api/v1/contacts?limit=1 and GET
/api/auth/get-session alternately, at a steady rate, each on a fresh connection
(so both workers are sampled) - in five phases:

    alone          B alone (shared pools)
    flood          A sends flood-factor x its in-flight limit of heavy agent queries at once, and
                   again as each one ends (a 429 waits its Retry-After, as a client should)
    locked         A's writes (--writers of them at a time) need a row a test-side connection holds
                   locked; each ends at the app role's lock timeout (409)
    alone-perorg   B alone, server restarted with per-org pools on (pool.perOrg.maxConnections 2)
    flood-perorg   the flood again, per-org pools on
    alone-replica  B alone on a primary + hot standby of the bench's own (app/devdb/standby.py),
                   agent SQL on the standby (ATLAS_AGENT_REPLICA_URL, fallback refuse), the standby's
                   postmaster and backends pinned to one core, the primary, the server and the load
                   (this process, B's) to the other (sched_setaffinity, what `taskset -a -p -c` does):
                   a stand-in for separate hosts
    flood-replica  A's flood again, answered on the pinned standby

--phases picks which groups run (shared: alone, flood, locked; perorg; replica).

Prints B's p50/p99 per phase, the p99 ratio of each loaded phase over its
baseline (target <= 1.5) and B's failures (target 0), plus what A got back.
A miss prints MISS but does not fail. Everything created is dropped at the end.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg

from app.devdb.databases import DatabaseFactory, TestDatabase
from app.devdb.server import find_or_start
from scripts.bench_api import free_port, must, stop_server, wait_until_up

ROOT = Path(__file__).resolve().parents[1]

TARGET_RATIO = 1.5
PASSWORD = "bench-noisy-password"
HEAVY_SQL = "SELECT count(*) FROM generate_series(1,100000) a, generate_series(1,100000) b"
IN_FLIGHT = 2  # the platform default of queryMaxInFlight
SEEDED: dict[str, dict[str, Any]] = {}  # database name -> orgs a and b


def start_server(db: TestDatabase, *, port: int, workers: int, threads: int, per_org: bool, log: Any,
                 replica_url: str = "") -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": db.admin_url, "ATLAS_ROLE_PREFIX": db.roles.owner.removesuffix("_owner"),
           "ATLAS_POOL_MAX_SIZE": str(max(threads, 4)), "ATLAS_CONFIG": os.devnull + ".absent"}
    if per_org:
        env.update({"ATLAS_POOL_PER_ORG": "on", "ATLAS_POOL_PER_ORG_MAX_CONNECTIONS": "2"})
    if replica_url:
        env.update({"ATLAS_AGENT_REPLICA_URL": replica_url, "ATLAS_AGENT_REPLICA_FALLBACK": "refuse"})
    launch = ("from app import close_app, create_app; from app.serving import run; "
              f"run(create_app, close=close_app, host='127.0.0.1', port={port}, workers={workers}, "
              f"threads={threads}, graceful_timeout_s=5)")  # as `atlas serve` runs it (app/serving.py)
    return subprocess.Popen([sys.executable, "-c", launch], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=log)


def seed(port: int) -> dict[str, Any]:
    """Two orgs, each with its owner signed in and active; A gets a contact to fight over."""
    orgs: dict[str, Any] = {}
    for name in ("a", "b"):
        token = must(port, "POST", "/api/auth/sign-up/email",
                     body={"email": f"owner-{name}@noisy.test", "password": PASSWORD, "name": name})["token"]
        org_id = must(port, "POST", "/api/auth/organization/create", token=token,
                      body={"name": f"Org {name}", "slug": f"noisy-{name}"})["id"]
        token = must(port, "POST", "/api/auth/organization/set-active", token=token,
                     body={"organizationId": org_id})["__token"]
        contact = must(port, "POST", "/api/v1/contacts", token=token, body={"first_name": name})["id"]
        orgs[name] = {"token": token, "org": org_id, "contact": contact}
    # A's queries may all be answered: the rate limit is not what this measures.
    must(port, "PATCH", "/api/v1/settings", token=orgs["a"]["token"], body={"queryRatePerMinute": 600})
    return orgs


def request(port: int, method: str, path: str, token: str, body: dict | None = None,
            timeout_s: float = 60) -> tuple[int, float, dict]:
    """One request on a fresh connection -> (status, seconds, headers)."""
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - t0, dict(response.getheaders())
    finally:
        conn.close()


def org_b(port: int, token: str, seconds: float, rate: float, out: Any) -> None:
    """B's steady load, in a process of its own: alternate a CRM read and get-session."""
    paths = ("/api/v1/contacts?limit=1", "/api/auth/get-session")
    latencies, failures, sent = [], 0, 0
    start = time.perf_counter()
    while time.perf_counter() < start + seconds:
        try:
            status, took, _ = request(port, "GET", paths[sent % 2], token)
            latencies.append(took)
            failures += status != 200
        except OSError:
            failures += 1
        sent += 1
        time.sleep(max(0.0, start + sent / rate - time.perf_counter()))
    out.put((latencies, failures))


class Attacker:
    """Org A's clients in threads: each sends its request again as soon as the last one ends."""

    def __init__(self, port: int, count: int, send: Any) -> None:
        self.statuses: Counter[int] = Counter()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(port, send), daemon=True) for _ in range(count)]
        self._lock = threading.Lock()

    def _loop(self, port: int, send: Any) -> None:
        while not self._stop.is_set():
            try:
                status, _, headers = send(port)
            except OSError:
                status, headers = 0, {}
            with self._lock:
                self.statuses[status] += 1
            if status in (429, 503):
                self._stop.wait(float(headers.get("Retry-After", 1)))

    def __enter__(self) -> Attacker:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)


def measure_b(port: int, token: str, seconds: float, rate: float) -> tuple[list[float], int]:
    out: Any = mp.Queue()
    proc = mp.Process(target=org_b, args=(port, token, seconds, rate, out))
    proc.start()
    result = out.get(timeout=seconds + 120)
    proc.join()
    return result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def pin_cluster(data_dir: Path, cores: set[int]) -> int:
    """Pin a cluster's postmaster and every process it has forked to `cores`; later backends inherit it."""
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(postmaster)], capture_output=True, text=True,
                              check=False).stdout.split()
    pids = [postmaster, *map(int, children)]
    for pid in pids:
        try:
            os.sched_setaffinity(pid, cores)
        except ProcessLookupError:
            pass
    return len(pids)


def run_phases(args: argparse.Namespace, db: TestDatabase, log: Any) -> list[tuple[str, list[float], int, Counter]]:
    results = []
    for mode in args.phases:
        if mode == "replica":
            results += replica_phases(args, log)
        else:
            results += pool_phases(args, db, log, per_org=mode == "perorg")
    return results


def replica_phases(args: argparse.Namespace, log: Any) -> list[tuple[str, list[float], int, Counter]]:
    """B alone and under A's flood, agent SQL on a hot standby pinned to a core of its own."""
    from app.devdb.standby import start_pair

    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        print("replica phases skipped: they need two cores, this process may use", cores)
        return []
    primary_cores, standby_cores = set(cores[:-1]), {cores[-1]}
    pair = start_pair()
    before = os.sched_getaffinity(0)
    try:
        factory = DatabaseFactory(pair.primary.server())
        db = factory.build_template()
        pair.replayed()
        pinned = pin_cluster(pair.standby.data, standby_cores) + pin_cluster(pair.primary.data, primary_cores)
        os.sched_setaffinity(0, primary_cores)  # this process, and the server and B's process forked from it
        print(f"replica phases: standby on cores {sorted(standby_cores)}, primary + server + load on "
              f"{sorted(primary_cores)} ({pinned} server processes pinned)")
        try:
            return pool_phases(args, db, log, per_org=False, replica=pair)
        finally:
            factory.drop_all()
    finally:
        os.sched_setaffinity(0, before)
        pair.remove()


def pool_phases(args: argparse.Namespace, db: TestDatabase, log: Any, *, per_org: bool,
                replica: Any = None) -> list[tuple[str, list[float], int, Counter]]:
    """B alone, under A's flood and (shared pools only) beside A's blocked writes, on one server start."""
    results: list[tuple[str, list[float], int, Counter]] = []
    port = free_port()
    replica_url = replica.on_standby(db.agent_url) if replica is not None else ""
    proc = start_server(db, port=port, workers=args.workers, threads=args.threads, per_org=per_org, log=log,
                        replica_url=replica_url)
    try:
        wait_until_up(port, proc)
        if db.name not in SEEDED:
            SEEDED[db.name] = seed(port)  # the same orgs for every server start on this database
        orgs = SEEDED[db.name]
        if replica is not None:
            replica.replayed()  # the orgs and A's semantic tables are on the standby before A asks
        a, b = orgs["a"], orgs["b"]
        suffix = "-perorg" if per_org else "-replica" if replica is not None else ""
        for _ in range(10):  # warm both workers' pools and caches
            request(port, "GET", "/api/v1/contacts?limit=1", b["token"])
        latencies, failures = measure_b(port, b["token"], args.phase_s, args.rate)
        results.append((f"alone{suffix}", latencies, failures, Counter()))

        def heavy(p: int) -> tuple[int, float, dict]:
            return request(p, "POST", "/api/v1/query", a["token"], {"sql": HEAVY_SQL})
        with Attacker(port, args.flood_factor * IN_FLIGHT, heavy) as attack:
            time.sleep(1.0)  # let the flood take hold
            latencies, failures = measure_b(port, b["token"], args.phase_s, args.rate)
        results.append((f"flood{suffix}", latencies, failures, attack.statuses))
        if per_org or replica is not None:
            return results

        def write(p: int) -> tuple[int, float, dict]:
            return request(p, "PATCH", f"/api/v1/contacts/{a['contact']}", a["token"], {"first_name": "A"})
        with psycopg.connect(db.admin_url) as holder:
            holder.execute("SELECT id FROM contacts WHERE id = %s FOR UPDATE", (a["contact"],))
            with Attacker(port, args.writers, write) as attack:
                time.sleep(1.0)
                latencies, failures = measure_b(port, b["token"], args.phase_s, args.rate)
            holder.rollback()
        results.append(("locked", latencies, failures, attack.statuses))
    finally:
        stop_server(proc)
    return results


def report(args: argparse.Namespace, results: list[tuple[str, list[float], int, Counter]]) -> None:
    baseline = {name: percentile(lat, 0.99) for name, lat, _, _ in results if name.startswith("alone")}
    group = {"-perorg": "alone-perorg", "-replica": "alone-replica"}
    print(f"granian {args.workers} workers x {args.threads} threads; B at {args.rate}/s for {args.phase_s}s a phase;"
          f" A's in-flight limit {IN_FLIGHT}, flood {args.flood_factor * IN_FLIGHT} clients, {args.writers} writers;"
          f" {os.cpu_count()} CPUs")
    print(f"{'phase':14} {'B reqs':>6} {'p50 ms':>8} {'p99 ms':>8} {'p99 ratio':>9} {'B fail':>6}  A got")
    for name, latencies, failures, statuses in results:
        p99 = percentile(latencies, 0.99)
        base = baseline[next((v for k, v in group.items() if name.endswith(k)), "alone")]
        ratio = p99 / base
        verdict = "" if name.startswith("alone") else (" ok" if ratio <= TARGET_RATIO and not failures else " MISS")
        ratio_text = "" if name.startswith("alone") else f"{ratio:.2f}"
        print(f"{name:14} {len(latencies):6d} {percentile(latencies, 0.5) * 1000:8.1f} {p99 * 1000:8.1f}"
              f" {ratio_text:>9} {failures:6d}  {dict(sorted(statuses.items()))}{verdict}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phase-s", type=float, default=25.0, help="seconds B is measured per phase (default 25: 750 samples, so p99 is not the 3rd-slowest request)")
    parser.add_argument("--rate", type=float, default=30.0, help="B's requests per second (default 30)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--flood-factor", type=int, default=4, help="A's flood, in multiples of its in-flight limit")
    parser.add_argument("--writers", type=int, default=2, help="A's concurrent blocked writes (default 2)")
    parser.add_argument("--phases", default="shared,perorg,replica",
                        help="groups of phases to run, in order (default shared,perorg,replica)")
    args = parser.parse_args()
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(args.phases) - {"shared", "perorg", "replica"}
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}: choose from shared, perorg, replica")
    return args


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server = find_or_start()
    factory = DatabaseFactory(server)
    log = tempfile.TemporaryFile()
    ok = False
    try:
        db = factory.build_template()
        report(args, run_phases(args, db, log))
        ok = True
        return 0
    finally:
        if not ok:
            log.seek(0)
            sys.stderr.write("server log (tail):\n" + log.read().decode(errors="replace")[-4000:])
        log.close()
        factory.drop_all()
        if callable(server.stop):
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
