"""Org B's reads while org A's writes wait for a lock: per-org pools off and on (issue 24 item 13).

Run: .venv/bin/python -m scripts.bench_lock_isolation [--writers 8] [--reads 101] [--rate 10]
                                                     [--per-org-connections 1] [--workers 2] [--threads 4]
                                                     [--mode shared|dedicated]
Builds a migrated database of its own and starts `atlas serve` (granian, --workers x --threads)
once per setting, per-org pools off then on (pool.perOrg.maxConnections = --per-org-connections).
A superuser session holds ACCESS EXCLUSIVE on notes; --writers threads of org A keep sending
POST /api/v1/notes (each waits for the lock until ATLAS_APP_LOCK_TIMEOUT_MS, 2 s, then 409);
meanwhile org B sends --reads GET /api/v1/contacts?limit=1 at --rate a second, each on a fresh
connection. Prints B's p50, p99 and max latency, B's reads over 1 s, and what A got back.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg

from app.devdb.databases import DatabaseFactory, TestDatabase
from app.devdb.server import find_or_start
from tests.support.serving import atlas_serve, request


def signed_in_org(port: int, name: str) -> str:
    account = {"email": f"{name}-{uuid.uuid4().hex[:8]}@isolation.test", "password": "long enough", "name": name}
    token = request(port, "POST", "/api/auth/sign-up/email", account)[2]["token"]
    request(port, "POST", "/api/auth/organization/create", {"name": name, "slug": f"{name}-{uuid.uuid4().hex[:8]}"},
            token)
    return str(request(port, "POST", "/api/auth/sign-in/email",
                       {"email": account["email"], "password": account["password"]})[2]["token"])


def run(db: TestDatabase, *, per_org: bool, args: argparse.Namespace) -> dict[str, Any]:
    env = {"ATLAS_POOL_PER_ORG": "on" if per_org else "off", "ATLAS_CACHE_BACKEND": "none",
           "ATLAS_POOL_PER_ORG_MAX_CONNECTIONS": str(args.per_org_connections) if per_org else None,
           "ATLAS_CONFIG": "/nonexistent/atlas.yaml", "ATLAS_POOL_MODE": args.mode}
    with tempfile.TemporaryDirectory() as tmp, \
            atlas_serve(db, Path(tmp) / "serve.log", workers=args.workers, threads=args.threads, env=env) as server:
        port = server.port
        token_a, token_b = signed_in_org(port, "a"), signed_in_org(port, "b")
        for _ in range(10):  # warm both orgs' paths in both workers
            request(port, "GET", "/api/v1/contacts?limit=1", token=token_b)
            request(port, "POST", "/api/v1/notes", {"body": "warm"}, token_a)
        stop = threading.Event()
        a_seen: Counter = Counter()
        a_took: list[float] = []
        lock = threading.Lock()

        def writer() -> None:
            while not stop.is_set():
                status, _, _, took = request(port, "POST", "/api/v1/notes", {"body": "blocked"}, token_a,
                                             timeout_s=60, timed=True)
                with lock:
                    a_seen[status] += 1
                    a_took.append(took)

        with psycopg.connect(db.admin_url) as holder:
            holder.execute("LOCK TABLE notes IN ACCESS EXCLUSIVE MODE")
            writers = [threading.Thread(target=writer) for _ in range(args.writers)]
            for t in writers:
                t.start()
            time.sleep(1.0)  # A's writes are all waiting now
            latencies: list[float] = []
            b_seen: Counter = Counter()
            started = time.monotonic()
            for i in range(args.reads):
                time.sleep(max(0.0, started + i / args.rate - time.monotonic()))
                status, _, _, took = request(port, "GET", "/api/v1/contacts?limit=1", token=token_b, timed=True,
                                             timeout_s=60)
                latencies.append(took)
                b_seen[status] += 1
            stop.set()
            holder.rollback()
            for t in writers:
                t.join(timeout=60)
    latencies.sort()
    return {"p50_ms": statistics.median(latencies) * 1000, "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000,
            "max_ms": latencies[-1] * 1000, "over_1s": sum(1 for x in latencies if x > 1.0),
            "b": dict(b_seen), "a": dict(a_seen), "a_p50_ms": statistics.median(a_took) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--reads", type=int, default=101)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--per-org-connections", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--mode", choices=("shared", "dedicated"), default="shared", help="pool.mode")
    args = parser.parse_args()
    factory = DatabaseFactory(find_or_start())
    factory.build_template()
    db = factory.clone()
    try:
        print(f"A: {args.writers} writers blocked on a lock; B: {args.reads} reads at {args.rate:g}/s;"
              f" {args.workers} workers x {args.threads} threads; pool.mode {args.mode}")
        print(f"{'per-org pools':<14} {'B p50 ms':>9} {'B p99 ms':>9} {'B max ms':>9} {'B >1s':>6}  A p50 ms  B statuses / A statuses")
        for per_org in (False, True):
            r = run(db, per_org=per_org, args=args)
            label = f"on ({args.per_org_connections} conn)" if per_org else "off"
            print(f"{label:<14} {r['p50_ms']:9.1f} {r['p99_ms']:9.1f} {r['max_ms']:9.1f} {r['over_1s']:6d}  {r['a_p50_ms']:8.0f}  {r['b']} / {r['a']}",
                  flush=True)
    finally:
        factory.drop(db.name)


if __name__ == "__main__":
    main()
