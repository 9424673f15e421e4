"""Noisy neighbours: does org B keep its latency while org A floods the server?

Run: .venv/bin/python -m scripts.bench_noisy [--phase-s 25] [--rate 30] [--workers 2] [--threads 4]
                                             [--flood-factor 4] [--writers 2] [--phases shared,perorg,replica]
                                             [--rounds 1]
Builds a migrated database of its own, starts granian (2 workers x 4
threads as `atlas serve`) on the production app, signs up org A and org B
through the API, then measures org B - GET /api/v1/contacts?limit=1 and GET
/api/auth/get-session alternately, at a steady rate, each on a fresh connection
(so both workers are sampled) - in these phases:

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

--phases picks which groups run (shared: alone, flood, locked; perorg; replica). With --rounds N,
alone and flood alternate N times in each group (the machine's other work then weighs on both
alike); a phase's p99 is over all its rounds' samples, and the median of the per-round ratios
(each flood over the alone just before it) is printed beside it. After a flood the next phase
waits until A's last queries have ended (up to the statement timeout).

A's clients wait the Retry-After of each 429 or 503 (1-3 s, jittered), as a client should. Until
2026-12-08 they read the header as "Retry-After" while granian sends it in lower case, so they
always waited 1 s: about twice the refused requests of a faithful client (the figures before that
in docs/benchmarks.md were measured so).

Prints B's p50/p99 per phase, the p99 ratio of each loaded phase over its
baseline (target <= 1.5) and B's failures (target 0), plus what A got back; then
where the CPU went in each phase (per core, and per process tree: the primary's
and the standby's postmaster, the server, B's load process, this process with A's
clients), in cores. A miss prints MISS but does not fail. Everything created is
dropped at the end.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

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
    """One request on a fresh connection -> (status, seconds, headers by lower-case name)."""
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        # Header names in lower case: granian sends them so, and a client must match them in any case.
        return response.status, time.perf_counter() - t0, {k.lower(): v for k, v in response.getheaders()}
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
    out.put((latencies, failures, time.process_time()))


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
                self._stop.wait(float(headers.get("retry-after", 1)))

    def __enter__(self) -> Attacker:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)


@dataclass
class Phase:
    """B's figures for one phase (one round of it), what A got back, and where the CPU went."""

    name: str
    latencies: list[float]
    failures: int
    statuses: Counter[int] = field(default_factory=Counter)
    cpu: dict[str, float] = field(default_factory=dict)
    round: int = 0


def measure_b(port: int, token: str, seconds: float, rate: float, name: str, *, cpu_roots: dict[str, int],
              statuses: Counter[int] | None = None, round_no: int = 0) -> Phase:
    out: Any = mp.Queue()
    split = CpuSplit(cpu_roots)
    proc = mp.Process(target=org_b, args=(port, token, seconds, rate, out))
    proc.start()
    latencies, failures, b_cpu_s = out.get(timeout=seconds + 120)
    proc.join()
    return Phase(name, latencies, failures, statuses if statuses is not None else Counter(), split.done(b_cpu_s),
                 round_no)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(root: int) -> float:
    """CPU seconds of a process and every descendant alive now, plus what those reaped (cutime, cstime)."""
    parents: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = fields
        parents.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += sum(int(f) for f in stats[pid][11:15])  # utime stime cutime cstime
        todo += parents.get(pid, [])
    return total * TICK_S


def core_busy_s() -> dict[str, float]:
    """Busy seconds per core since boot (everything on the machine: other work counts too)."""
    busy = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            v = [int(x) for x in values]
            busy[name] = (sum(v[:8]) - v[3] - v[4]) * TICK_S  # all but idle and iowait
    return busy


class CpuSplit:
    """Where CPU went during one phase: per core, and per group of processes (their trees)."""

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots = roots
        self._t0 = time.perf_counter()
        self._cores = core_busy_s()
        self._groups = {name: tree_cpu_s(pid) for name, pid in roots.items()}
        self._bench = time.process_time()

    def done(self, b_cpu_s: float) -> dict[str, float]:
        """Shares of one core (1.0 = a whole core) over the phase."""
        wall = time.perf_counter() - self._t0
        cores = core_busy_s()
        split = {name: (cores[name] - self._cores[name]) / wall for name in cores}
        split.update({name: (tree_cpu_s(pid) - self._groups[name]) / wall for name, pid in self.roots.items()})
        split["bench+A"] = (time.process_time() - self._bench) / wall
        split["B load"] = b_cpu_s / wall
        return split


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


def run_phases(args: argparse.Namespace, db: TestDatabase, log: Any) -> list[Phase]:
    results: list[Phase] = []
    for mode in args.phases:
        if mode == "replica":
            results += replica_phases(args, log)
        else:
            results += pool_phases(args, db, log, per_org=mode == "perorg")
    return results


def replica_phases(args: argparse.Namespace, log: Any) -> list[Phase]:
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


def postmaster_of(url: str) -> int:
    """The postmaster's pid of the server behind `url` (a backend's parent)."""
    with psycopg.connect(url, autocommit=True) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        return int((Path("/proc") / str(backend) / "stat").read_text().rsplit(")", 1)[1].split()[1])


def wait_agent_idle(admin_url: str, agent_url: str, *, timeout_s: float = 15.0) -> None:
    """Until the flood's last queries (up to the 10 s statement timeout) have ended, so the next phase is alone."""
    agent = conninfo_to_dict(agent_url)["user"]
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(admin_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND state <> 'idle'",
                               (agent,)).fetchone()
            if row is not None and row[0] == 0:
                return
            time.sleep(0.2)


def pool_phases(args: argparse.Namespace, db: TestDatabase, log: Any, *, per_org: bool,
                replica: Any = None) -> list[Phase]:
    """B alone and under A's flood, alternating --rounds times, then (shared pools only) beside A's
    blocked writes, on one server start."""
    results: list[Phase] = []
    port = free_port()
    replica_url = replica.on_standby(db.agent_url) if replica is not None else ""
    proc = start_server(db, port=port, workers=args.workers, threads=args.threads, per_org=per_org, log=log,
                        replica_url=replica_url)
    try:
        wait_until_up(port, proc)
        if db.name not in SEEDED:
            SEEDED[db.name] = seed(port)  # the same orgs for every server start on this database
        orgs = SEEDED[db.name]
        roots = {"primary": postmaster_of(db.admin_url), "server": proc.pid}
        if replica is not None:
            replica.replayed()  # the orgs and A's semantic tables are on the standby before A asks
            roots["standby"] = postmaster_of(replica.on_standby(db.admin_url))
        a, b = orgs["a"], orgs["b"]
        suffix = "-perorg" if per_org else "-replica" if replica is not None else ""
        for _ in range(10):  # warm both workers' pools and caches
            request(port, "GET", "/api/v1/contacts?limit=1", b["token"])

        def heavy(p: int) -> tuple[int, float, dict]:
            return request(p, "POST", "/api/v1/query", a["token"], {"sql": HEAVY_SQL})
        for round_no in range(args.rounds):  # alternate, so both see the machine's same weather
            results.append(measure_b(port, b["token"], args.phase_s, args.rate, f"alone{suffix}",
                                     cpu_roots=roots, round_no=round_no))
            with Attacker(port, args.flood_factor * IN_FLIGHT, heavy) as attack:
                time.sleep(1.0)  # let the flood take hold
                results.append(measure_b(port, b["token"], args.phase_s, args.rate, f"flood{suffix}",
                                         cpu_roots=roots, statuses=attack.statuses, round_no=round_no))
            wait_agent_idle(replica.on_standby(db.admin_url) if replica is not None else db.admin_url, db.agent_url)
        if per_org or replica is not None:
            return results

        def write(p: int) -> tuple[int, float, dict]:
            return request(p, "PATCH", f"/api/v1/contacts/{a['contact']}", a["token"], {"first_name": "A"})
        with psycopg.connect(db.admin_url) as holder:
            holder.execute("SELECT id FROM contacts WHERE id = %s FOR UPDATE", (a["contact"],))
            with Attacker(port, args.writers, write) as attack:
                time.sleep(1.0)
                results.append(measure_b(port, b["token"], args.phase_s, args.rate, "locked", cpu_roots=roots,
                                         statuses=attack.statuses))
            holder.rollback()
    finally:
        stop_server(proc)
    return results


def report(args: argparse.Namespace, results: list[Phase]) -> None:
    """One line per phase, its rounds pooled (p99 over every sample), then the CPU split per phase."""
    names = list(dict.fromkeys(ph.name for ph in results))
    pooled = {name: [ph for ph in results if ph.name == name] for name in names}
    baseline_of = {"-perorg": "alone-perorg", "-replica": "alone-replica"}

    def base(name: str) -> str:
        return next((v for k, v in baseline_of.items() if name.endswith(k)), "alone")

    def p99(phases: list[Phase]) -> float:
        return percentile([x for ph in phases for x in ph.latencies], 0.99)

    print(f"granian {args.workers} workers x {args.threads} threads; B at {args.rate}/s for {args.phase_s}s a phase"
          f" x {args.rounds} round(s), alone and flood alternating; A's in-flight limit {IN_FLIGHT},"
          f" flood {args.flood_factor * IN_FLIGHT} clients, {args.writers} writers; {os.cpu_count()} CPUs;"
          f" load average {os.getloadavg()[0]:.2f}")
    print(f"{'phase':14} {'B reqs':>6} {'p50 ms':>8} {'p99 ms':>8} {'p99 ratio':>9} {'rounds':>17} {'B fail':>6}  A got")
    for name, phases in pooled.items():
        latencies = [x for ph in phases for x in ph.latencies]
        failures = sum(ph.failures for ph in phases)
        statuses = sum((ph.statuses for ph in phases), Counter())
        loaded = not name.startswith("alone")
        ratio = p99(phases) / p99(pooled[base(name)])
        per_round = ""
        if loaded and len(phases) > 1:  # each round's ratio over the baseline measured just before it
            ratios = sorted(p99([ph]) / p99([bp for bp in pooled[base(name)] if bp.round == ph.round])
                            for ph in phases)
            per_round = f"median {ratios[len(ratios) // 2]:.2f} of {len(ratios)}"
        verdict = "" if not loaded else (" ok" if ratio <= TARGET_RATIO and not failures else " MISS")
        print(f"{name:14} {len(latencies):6d} {percentile(latencies, 0.5) * 1000:8.1f} {p99(phases) * 1000:8.1f}"
              f" {f'{ratio:.2f}' if loaded else '':>9} {per_round:>17} {failures:6d}"
              f"  {dict(sorted(statuses.items()))}{verdict}")
    groups = list(dict.fromkeys(k for ph in results for k in ph.cpu))
    print("CPU per phase, in cores (1.00 = one core busy for the whole phase; cpuN counts everything on the machine):")
    print(f"{'phase':14} " + " ".join(f"{g:>8}" for g in groups))
    for name, phases in pooled.items():
        mean = {g: sum(ph.cpu.get(g, 0.0) for ph in phases) / len(phases) for g in groups}
        print(f"{name:14} " + " ".join(f"{mean[g]:8.2f}" for g in groups))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phase-s", type=float, default=25.0, help="seconds B is measured per phase (default 25: 750 samples, so p99 is not the 3rd-slowest request)")
    parser.add_argument("--rate", type=float, default=30.0, help="B's requests per second (default 30)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--flood-factor", type=int, default=4, help="A's flood, in multiples of its in-flight limit")
    parser.add_argument("--writers", type=int, default=2, help="A's concurrent blocked writes (default 2)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alone and flood alternate this many times per group; p99 is over every round's samples")
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
