"""What the API costs per request, against the ceiling of the web stack, all in the same server.

Run: .venv/bin/python -m scripts.bench_api [--contacts 1000] [--rounds 6] [--round-s 1.5]
                                           [--clients 4] [--workers 2] [--threads 4]

Builds a migrated database of its own (roles included) on the configured server,
starts the production server (granian, as `atlas serve` runs it: app/serving.py) on the app
plus the bare route of scripts/bench_bare.py, signs up an owner and a member and builds their org
through the API, inserts the contacts through the org-scoped door, then times
    nodb   - GET /api/v1/no-such-thing without a session: a JSON 404 that reads no
             database, the ceiling of this web stack on this machine;
    full   - GET /api/v1/contacts?limit=50 as the member (Bearer token): session
             (read afresh on every request: no identity cache, so revocation binds
             every worker at once), role check, door, RLS;
    bare   - GET /api/bench/bare/contacts?org=<org>&limit=50 (scripts/bench_bare.py): the
             same SQL and JSON in the same server, no session, no role check, no RLS;
    get    - GET /api/v1/contacts/<id> as the member;
    create - POST /api/v1/contacts as the member: the row and its audit row.
Client processes each keep one keep-alive connection per target; after a warm-up,
short rounds rotate the targets (and which goes first) to cancel drift.
Prints requests/s, p50 and p99 for each, the CPU microseconds each request cost in the server
(granian's master and workers) and in PostgreSQL when both run here (scripts/cpu_split.py: it says where a ratio's
difference goes), and the ratios against the issue's targets
(a miss prints MISS but does not fail: timings depend on the machine). full and bare
must answer the same rows, or the run exits 1. The server is stopped and everything
the run created is dropped at the end, also on failure or Ctrl-C.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.db import Database
from app.devdb.databases import DatabaseFactory, TestDatabase
from app.devdb.server import find_or_start
from scripts.cpu_split import CpuSampler

ROOT = Path(__file__).resolve().parents[1]

# (numerator, denominator, target): throughput ratios the issue asks for (issue 12).
TARGETS = (("full", "nodb", 0.40), ("get", "nodb", 0.55), ("create", "nodb", 0.25), ("full", "bare", 0.90))
EXPECTED = {"nodb": 404, "full": 200, "bare": 200, "get": 200, "create": 201}
PASSWORD = "bench-api-password"
FIRST = ["Ada", "Alan", "Ana", "Ben", "Carla", "Chen", "Dana", "Eli", "Emma", "Finn", "Grace", "Hana", "Ivan", "Kai", "Lea", "Liam", "Maya", "Noah", "Omar", "Zoe"]
LAST = ["Adams", "Baker", "Chen", "Diaz", "Evans", "Garcia", "Hall", "Ito", "Jones", "Khan", "Kim", "Lopez", "Meyer", "Patel", "Rossi", "Smith", "Wong"]


# ----- the server -----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(db: TestDatabase, *, port: int, workers: int, threads: int, log: Any) -> subprocess.Popen:
    """granian, configured as `atlas serve` configures it (app/serving.py), on the production app plus
    the bare route (scripts/bench_bare.py), in its own process group (stopped as a whole); stderr to `log`."""
    env = {**os.environ, "DATABASE_URL": db.admin_url, "ATLAS_ROLE_PREFIX": db.roles.owner.removesuffix("_owner"),
           "ATLAS_POOL_MAX_SIZE": str(max(threads, 4))}
    launch = ("from app import close_app; from app.serving import run; from scripts.bench_bare import create_bench_app; "
              f"run(create_bench_app, close=close_app, host='127.0.0.1', port={port}, workers={workers}, "
              f"threads={threads}, graceful_timeout_s=5)")
    return subprocess.Popen([sys.executable, "-c", launch], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=log)


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def wait_until_up(port: int, proc: subprocess.Popen, *, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the server exited during start-up (its log follows)")
        try:
            status, _ = call(port, "GET", "/api/openapi.json")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not answer in time")


def call(port: int, method: str, path: str, *, token: str | None = None,
         body: dict | None = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    token_header = response.getheader("set-auth-token")
    data = json.loads(raw) if raw else None
    if isinstance(data, dict) and token_header:
        data["__token"] = token_header
    return response.status, data


def must(port: int, method: str, path: str, **kw: Any) -> Any:
    status, data = call(port, method, path, **kw)
    if status >= 300:
        raise SystemExit(f"seeding: {method} {path} -> {status} {data}")
    return data


# ----- seeding --------------------------------------------------------------------------------
def seed(port: int, db: TestDatabase, *, contacts: int) -> tuple[str, str, str]:
    """An org with an owner and a member, through the API; contacts through the door.

    -> (org id, member token, the id of one contact)"""
    owner = must(port, "POST", "/api/auth/sign-up/email",
                 body={"email": "owner@bench.test", "password": PASSWORD, "name": "Owner"})["token"]
    org_id = must(port, "POST", "/api/auth/organization/create", token=owner,
                  body={"name": "Bench", "slug": "bench"})["id"]
    owner = must(port, "POST", "/api/auth/organization/set-active", token=owner,
                 body={"organizationId": org_id})["__token"]
    member = must(port, "POST", "/api/auth/sign-up/email",
                  body={"email": "member@bench.test", "password": PASSWORD, "name": "Member"})["token"]
    invitation = must(port, "POST", "/api/auth/organization/invite-member", token=owner,
                      body={"email": "member@bench.test", "role": "member"})["id"]
    must(port, "POST", "/api/auth/organization/accept-invitation", token=member, body={"invitationId": invitation})
    member = must(port, "POST", "/api/auth/organization/set-active", token=member,
                  body={"organizationId": org_id})["__token"]
    rng = random.Random(7)
    start = datetime.now(UTC) - timedelta(days=365)
    rows = [(org_id, rng.choice(FIRST), rng.choice(LAST), f"c{i}@example.test", "lead",
             start + timedelta(seconds=rng.uniform(0, 365 * 86400))) for i in range(contacts)]
    door = Database(db.app_url, min_size=1, max_size=1).open()
    try:
        with door.transaction(org_id) as scope:
            scope.conn.cursor().executemany(
                "INSERT INTO contacts (org_id, first_name, last_name, email, lifecycle_stage, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s)", rows)
            one = scope.fetch_value("SELECT id FROM contacts WHERE org_id = %s ORDER BY created_at LIMIT 1",
                                    [org_id])
    finally:
        door.close()
    return org_id, member, str(one)


# ----- the load -------------------------------------------------------------------------------
Target = tuple[str, str, dict[str, str], bytes | None]  # method, path, headers, body


def client(pipe: Any, port: int, targets: dict[str, Target]) -> None:
    """A client process: for each ("target", seconds) it gets, call in a loop on one keep-alive connection."""
    conns = {name: http.client.HTTPConnection("127.0.0.1", port, timeout=30) for name in targets}
    while (job := pipe.recv()) is not None:
        name, seconds = job
        method, path, headers, body = targets[name]
        expected = EXPECTED[name]
        conn = conns[name]
        conn.close()
        conn.connect()  # untimed: the server may have closed an idle keep-alive connection between rounds
        latencies, failures = [], 0
        began = time.perf_counter()
        end = began + seconds
        while (t0 := time.perf_counter()) < end:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            latencies.append(time.perf_counter() - t0)
            failures += response.status != expected
            if response.will_close:
                conn.close()
                conn.connect()
        pipe.send((latencies, failures, time.perf_counter() - began))
    for conn in conns.values():
        conn.close()


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    seconds: float = 0.0
    rounds: list[float] = field(default_factory=list)  # requests/s of each round, in order
    cpu: list[float] | None = None  # CPU s in the server, in PostgreSQL (scripts/cpu_split.py); None: not sampled

    def cpu_us(self, which: int) -> str:
        """CPU microseconds per request in the server (0) or PostgreSQL (1); '-' when not sampled."""
        return f"{1e6 * self.cpu[which] / len(self.latencies):.0f}" if self.cpu and self.latencies else "-"

    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def quantile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Clients:
    """N client processes driven in lock-step rounds."""

    def __init__(self, n: int, port: int, targets: dict[str, Target]) -> None:
        ctx = mp.get_context("spawn")
        self.pipes, self.procs = [], []
        for _ in range(n):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=client, args=(theirs, port, targets), daemon=True)
            proc.start()
            self.pipes.append(ours)
            self.procs.append(proc)

    def round(self, name: str, seconds: float, tally: Tally | None, cpu: CpuSampler | None = None) -> None:
        before = cpu.sample() if cpu is not None and tally is not None else None
        for pipe in self.pipes:
            pipe.send((name, seconds))
        results = [pipe.recv() for pipe in self.pipes]
        after = cpu.sample() if before is not None and cpu is not None else None
        if tally is not None:
            if before is not None and after is not None:
                tally.cpu = [a + b for a, b in zip(tally.cpu or [0.0, 0.0], after.since(before))]
            for latencies, failures, _ in results:
                tally.latencies.extend(latencies)
                tally.failures += failures
            elapsed = max(elapsed for _, _, elapsed in results)
            tally.seconds += elapsed
            tally.rounds.append(sum(len(latencies) for latencies, _, _ in results) / elapsed)

    def close(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(None)
            except OSError:
                pass
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()


def same_rows(port: int, targets: dict[str, Target]) -> None:
    """full and bare must answer the same page, or the comparison means nothing; every target its status."""
    pages = {}
    for name, (method, path, headers, body) in targets.items():
        status, answer = call(port, method, path, token=headers.get("Authorization", "")[7:] or None,
                              body=None if body is None else json.loads(body))
        if status != EXPECTED[name]:
            raise SystemExit(f"{name}: {method} {path} -> {status} {answer}")
        if name in ("full", "bare"):
            pages[name] = answer["data"]
    if pages["full"] != pages["bare"] or len(pages["full"]) != 50:
        raise SystemExit("the full-stack and bare endpoints answer different rows")


def measure(args: argparse.Namespace, port: int, org_id: str, token: str, contact: str,
            cpu: CpuSampler | None = None) -> dict[str, Tally]:
    auth = {"Authorization": f"Bearer {token}"}
    new = json.dumps({"first_name": "Bench", "last_name": "Create", "lifecycle_stage": "lead"}).encode()
    targets: dict[str, Target] = {
        "nodb": ("GET", "/api/v1/no-such-thing", {}, None),
        "full": ("GET", "/api/v1/contacts?limit=50", auth, None),
        "bare": ("GET", f"/api/bench/bare/contacts?org={org_id}&limit=50", {}, None),
        "get": ("GET", f"/api/v1/contacts/{contact}", auth, None),
        "create": ("POST", "/api/v1/contacts", {**auth, "Content-Type": "application/json"}, new),
    }
    same_rows(port, targets)
    clients = Clients(args.clients, port, targets)
    tallies = {name: Tally() for name in targets}
    names = list(targets)
    try:
        for name in names:  # warm-up: pools, caches, the planner
            clients.round(name, args.warmup_s, None)
        for i in range(args.rounds):
            order = names[i % len(names):] + names[:i % len(names)]
            for name in (order if i % 2 == 0 else order[::-1]):
                clients.round(name, args.round_s, tallies[name], cpu)
    finally:
        clients.close()
    return tallies


def report(args: argparse.Namespace, tallies: dict[str, Tally]) -> None:
    print(f"bench_api: {args.contacts} contacts in one org; granian as atlas serve runs it, {args.workers} workers x "
          f"{args.threads} threads; {args.clients} keep-alive client processes; "
          f"{args.rounds} interleaved rounds x {args.round_s:g} s per target after {args.warmup_s:g} s warm-up")
    print(f"{'target':<6} {'requests':>9} {'failed':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'app us':>7} {'pg us':>6}"
          "  path")
    paths = {"nodb": "GET /api/v1/no-such-thing (JSON 404, no database: the ceiling)",
             "full": "GET /api/v1/contacts?limit=50 (session, role, door, RLS)",
             "bare": "GET /api/bench/bare/contacts?org=..&limit=50 (same SQL, no tenancy)",
             "get": "GET /api/v1/contacts/<id> (session, role, door, RLS)",
             "create": "POST /api/v1/contacts (session, role, insert + audit row)"}
    for name, t in tallies.items():
        print(f"{name:<6} {len(t.latencies):>9} {t.failures:>7} {t.rps():>9.1f} {t.quantile_ms(0.5):>8.2f} "
              f"{t.quantile_ms(0.99):>8.2f} {t.cpu_us(0):>7} {t.cpu_us(1):>6}  {paths[name]}")
    for top, bottom, target in TARGETS:
        a, b = tallies[top], tallies[bottom]
        ratio = a.rps() / b.rps() if b.rps() else 0.0
        verdict = "OK" if ratio >= target else "MISS"
        # Round i of every target ran within the same pass over the targets: their ratio shows the noise.
        spread = sorted(x / y for x, y in zip(a.rounds, b.rounds) if y)
        print(f"ratio {top}/{bottom}: throughput {ratio:.3f} (target >= {target:.2f}: {verdict}); "
              f"per round {spread[0]:.2f}..{spread[-1]:.2f}; "
              f"p50 {a.quantile_ms(0.5) / b.quantile_ms(0.5):.2f}x, p99 {a.quantile_ms(0.99) / b.quantile_ms(0.99):.2f}x")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=6, help="rounds per target (default 6)")
    parser.add_argument("--round-s", type=float, default=1.5, help="seconds per round (default 1.5)")
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=4, help="client processes (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="server workers (atlas serve default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (atlas serve default 4)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks on kill
    server = find_or_start()
    factory = DatabaseFactory(server)
    proc: subprocess.Popen | None = None
    log = tempfile.TemporaryFile()
    ok = False
    try:
        db = factory.build_template()  # the bench's own migrated database and roles
        port = free_port()
        proc = start_server(db, port=port, workers=args.workers, threads=args.threads, log=log)
        wait_until_up(port, proc)
        org_id, token, contact = seed(port, db, contacts=args.contacts)
        cpu = CpuSampler(proc.pid, db.admin_url, db.name)
        try:
            report(args, measure(args, port, org_id, token, contact, cpu))
        finally:
            cpu.close()
        ok = proc.poll() is None
        return 0 if ok else 1
    finally:
        if proc is not None:
            stop_server(proc)
        if not ok:
            log.seek(0)
            sys.stderr.write("server log (tail):\n" + log.read().decode(errors="replace")[-4000:])
        log.close()
        factory.drop_all()
        if callable(server.stop):
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
