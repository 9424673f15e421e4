"""Dedicated per-org pools against one shared pool with per-org quotas: which should be the default?

Run: .venv/bin/python scripts/bench_pools.py [--orgs 1000] [--requests 2000] [--warmup 500] [--threads 8]

Builds a migrated database of its own (roles included) on the configured
server and, for both modes (app/pools), measures:
  traffic - --orgs orgs, uniform and Zipf (s=1.0) picks, pool.perOrg.maxOrgs 50:
            median and p99 time to get a connection, LRU misses, new physical
            connections per 1,000 requests (the pools' own counters), evictions,
            and peak app-role connections (sampled from pg_stat_activity);
  noisy   - one org saturating its quota with SELECT pg_sleep(0.05) from 20
            threads while another org's p99 latency is compared with its
            latency alone; also without pool.perOrg (every org on the base
            pool), to show what the quotas protect against.
The same org sequence is replayed in both modes. Everything it created is
dropped at the end, also on failure or Ctrl-C.
"""
from __future__ import annotations

import argparse
import itertools
import logging
import random
import signal
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from app.devdb.databases import DatabaseFactory, TestDatabase
from app.devdb.server import find_or_start
from app.pools import PerOrgLimits, PoolConfig, PoolRegistry, create_registry

MODES = ("dedicated", "shared")
NOISY_THREADS = 20
NOISY_SLEEP = sql.SQL("SELECT pg_sleep(0.05)")


def set_org(org: uuid.UUID) -> sql.Composed:
    return sql.SQL("SET LOCAL app.org_id = {}").format(sql.Literal(str(org)))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class Sampler(threading.Thread):
    """Peak number of app-role backends in pg_stat_activity, sampled every few ms."""

    def __init__(self, db: TestDatabase) -> None:
        super().__init__(daemon=True)
        self.db, self.peak, self.stop = db, 0, threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.db.admin_url, autocommit=True) as conn:
            while not self.stop.is_set():
                n = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND datname = %s",
                                 (self.db.roles.app, self.db.name)).fetchone()[0]
                self.peak = max(self.peak, n)
                time.sleep(0.005)

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join()


SELECT_ONE = sql.SQL("SELECT 1")


def request(reg: PoolRegistry, org: uuid.UUID, query: sql.Composable = SELECT_ONE) -> tuple[float, float]:
    """One org-scoped transaction; returns (time to get the connection, total time) in seconds."""
    start = time.perf_counter()
    with reg.connection(org) as conn:
        got = time.perf_counter()
        with conn.transaction():
            conn.execute(set_org(org))
            conn.execute(query)
    return got - start, time.perf_counter() - start


def run_parallel(threads: int, picks: list[uuid.UUID], reg: PoolRegistry) -> tuple[list[float], int]:
    """Serve `picks` from `threads` threads; returns connect times and the number of errors."""
    position = itertools.count()
    waits: list[float] = []
    errors = [0]

    def worker() -> None:
        while (i := next(position)) < len(picks):
            try:
                waits.append(request(reg, picks[i])[0])
            except Exception:  # counted and printed: a benchmark reports errors, it does not hide them
                errors[0] += 1

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return waits, errors[0]


@dataclass
class Traffic:
    mode: str
    dist: str
    median_ms: float
    p99_ms: float
    miss_rate: float
    opened_per_1k: float
    evictions: int
    peak: int
    errors: int


def traffic(db: TestDatabase, mode: str, dist: str, picks: list[uuid.UUID], args: argparse.Namespace) -> Traffic:
    config = PoolConfig(
        datasources={"default": db.app_url}, mode=mode, max_total_connections=100,
        per_org=PerOrgLimits(max_connections=args.max_connections, max_orgs=50), base_min_connections=0,
        base_max_connections=2, timeout_ms=30_000)
    with create_registry(config) as reg:
        run_parallel(args.threads, picks[: args.warmup], reg)
        before = reg.snapshot()["totals"]
        with Sampler(db) as sampler:
            waits, errors = run_parallel(args.threads, picks[args.warmup:], reg)
        after = reg.snapshot()["totals"]
    measured = len(picks) - args.warmup
    delta = {k: after[k] - before[k] for k in ("connections_opened", "evictions", "org_units_created")}
    return Traffic(mode, dist, statistics.median(waits) * 1000, pct(waits, 0.99),
                   delta["org_units_created"] / measured, delta["connections_opened"] * 1000 / measured,
                   delta["evictions"], sampler.peak, errors)


@dataclass
class Noisy:
    mode: str
    alone_p50_ms: float
    alone_p99_ms: float
    loaded_p50_ms: float
    loaded_p99_ms: float
    loaded_get_p99_ms: float
    noisy_done: int
    noisy_errors: int


def noisy(db: TestDatabase, mode: str, requests: int) -> Noisy:
    """12 connections in all; one org runs 20 long queries at a time while another does short ones."""
    per_org = None if mode == "none" else PerOrgLimits(max_connections=5, max_orgs=50)
    config = PoolConfig(
        datasources={"default": db.app_url}, mode="shared" if mode == "none" else mode,
        max_total_connections=12, per_org=per_org, base_min_connections=0,
        base_max_connections=12 if mode == "none" else 2, timeout_ms=30_000)
    victim, hog = uuid.uuid4(), uuid.uuid4()
    with create_registry(config) as reg:
        for _ in range(20):
            request(reg, victim)
        alone = [request(reg, victim)[1] for _ in range(requests)]
        stop, done, errors = threading.Event(), [0], [0]

        def hogging() -> None:
            while not stop.is_set():
                try:
                    request(reg, hog, NOISY_SLEEP)
                    done[0] += 1
                except Exception:  # counted and printed
                    errors[0] += 1

        hogs = [threading.Thread(target=hogging) for _ in range(NOISY_THREADS)]
        for t in hogs:
            t.start()
        time.sleep(0.3)
        timings = [request(reg, victim) for _ in range(requests)]
        stop.set()
        for t in hogs:
            t.join()
    loaded = [total for _, total in timings]
    return Noisy(mode, pct(alone, 0.5), pct(alone, 0.99), pct(loaded, 0.5), pct(loaded, 0.99),
                 pct([got for got, _ in timings], 0.99), done[0], errors[0])


def zipf_picks(orgs: list[uuid.UUID], n: int, rng: random.Random) -> list[uuid.UUID]:
    weights = list(itertools.accumulate(1 / k for k in range(1, len(orgs) + 1)))
    return rng.choices(orgs, cum_weights=weights, k=n)


def report(traffic_rows: list[Traffic], noisy_rows: list[Noisy], args: argparse.Namespace) -> str:
    print(f"\ntraffic: {args.orgs} orgs, {args.threads} threads, {args.warmup} warmup + {args.requests} measured"
          f" requests; pool.perOrg {{maxOrgs: 50, maxConnections: {args.max_connections}}},"
          " maxTotalConnections 100, base max 2")
    print(f"{'mode':<10} {'traffic':<8} {'median ms':>10} {'p99 ms':>8} {'LRU miss':>9} {'new conns/1k':>13}"
          f" {'evictions':>10} {'peak conns':>11} {'errors':>7}")
    for r in traffic_rows:
        print(f"{r.mode:<10} {r.dist:<8} {r.median_ms:>10.3f} {r.p99_ms:>8.2f} {r.miss_rate:>8.1%} "
              f"{r.opened_per_1k:>13.1f} {r.evictions:>10} {r.peak:>11} {r.errors:>7}")
    print(f"\nnoisy neighbour: 12 connections in all; one org runs {NOISY_THREADS} x pg_sleep(0.05) at a time"
          " (pool.perOrg.maxConnections 5), another runs short transactions;\nlatency in ms = get connection"
          " + its transaction; 'none' = no pool.perOrg, every org on one base pool of 12")
    print(f"{'mode':<10} {'alone p50':>10} {'alone p99':>10} {'loaded p50':>11} {'loaded p99':>11} {'p99 x':>7}"
          f" {'loaded get-conn p99':>20} {'hog queries':>12} {'hog errors':>11}")
    for n in noisy_rows:
        print(f"{n.mode:<10} {n.alone_p50_ms:>10.2f} {n.alone_p99_ms:>10.2f} {n.loaded_p50_ms:>11.2f}"
              f" {n.loaded_p99_ms:>11.2f} {n.loaded_p99_ms / n.alone_p99_ms:>7.1f}"
              f" {n.loaded_get_p99_ms:>20.2f} {n.noisy_done:>12}"
              f" {n.noisy_errors:>11}")
    return verdict(traffic_rows, noisy_rows)


def verdict(traffic_rows: list[Traffic], noisy_rows: list[Noisy]) -> str:
    """The mode that wins most of: p50, p99 and connection churn per traffic shape, and victim p99."""
    criteria: list[tuple[str, Callable[[Any], float], list[Any]]] = []
    for dist in ("uniform", "zipf"):
        rows = [r for r in traffic_rows if r.dist == dist]
        criteria += [(f"{dist} median", lambda r: r.median_ms, rows), (f"{dist} p99", lambda r: r.p99_ms, rows),
                     (f"{dist} new conns/1k", lambda r: r.opened_per_1k, rows)]
    criteria.append(("noisy victim p99", lambda n: n.loaded_p99_ms, [n for n in noisy_rows if n.mode in MODES]))
    wins = {mode: [] for mode in MODES}
    for name, key, rows in criteria:
        best = min(rows, key=key)
        wins[best.mode].append(name)
    print("\nwins: " + "; ".join(f"{m}: {len(w)} ({', '.join(w) or '-'})" for m, w in wins.items()))
    winner = max(MODES, key=lambda m: len(wins[m]))
    print(f"winner: {winner}")
    return winner


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per run")
    parser.add_argument("--warmup", type=int, default=500, help="unmeasured requests first (fill the LRU)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--max-connections", type=int, default=1,
                        help="pool.perOrg.maxConnections for the traffic runs (1 lets 50 dedicated pools fit in 100)")
    parser.add_argument("--noisy-requests", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    factory = DatabaseFactory(find_or_start())
    try:
        started = time.monotonic()
        db = factory.build_template()
        rng = random.Random(args.seed)
        orgs = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(args.orgs)]
        total = args.warmup + args.requests
        shapes = {"uniform": [rng.choice(orgs) for _ in range(total)], "zipf": zipf_picks(orgs, total, rng)}
        rows = []
        for mode in MODES:
            for dist, picks in shapes.items():
                print(f"running {mode} {dist} ...", flush=True)
                rows.append(traffic(db, mode, dist, picks, args))
        noisy_rows = []
        for mode in ("none", *MODES):
            print(f"running noisy neighbour, {mode} ...", flush=True)
            noisy_rows.append(noisy(db, mode, args.noisy_requests))
        report(rows, noisy_rows, args)
        print(f"\ntook {time.monotonic() - started:.0f} s")
        return 0
    finally:
        factory.drop_all()


if __name__ == "__main__":
    sys.exit(main())
