"""What heavy queries do to a small query's tail, and whether the OS priority of their backends helps.

Run (as root, with PostgreSQL on this machine): .venv/bin/python scripts/bench_cpu_tail.py [--seconds 10]

`scripts/bench_noisy.py` measures what an org's heavy agent queries do to
another org's requests. This measures the floor under it: a client sends a
small SELECT every 10 ms to the configured PostgreSQL (DATABASE_URL / PG*,
else 127.0.0.1:5432, else a throwaway cluster) and records its latency, first
with idle cores, then beside one heavy query per core (the cross join
bench_noisy's org A sends, with the agent's settings) whose backends run at
nice 0, then at nice 19 (reniced from here with setpriority, which needs root
or PostgreSQL's own OS user). It prints p50 and p99 per phase, the p99 ratio
over idle cores, and whether the kernel groups processes by session
(`kernel.sched_autogroup_enabled`): with autogroup on, PostgreSQL's backends
share one group that competes with this client's group as a whole, so the
nice value of its heavy backends barely matters to a client on the same
machine. Every heavy query ends with its phase (statement timeout in any case).
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import psycopg

from app.devdb.server import find_or_start

SMALL = "SELECT count(*) FROM generate_series(1, 200)"
HEAVY = "SELECT count(*) FROM generate_series(1, 100000) a, generate_series(1, 100000) b"
AUTOGROUP = Path("/proc/sys/kernel/sched_autogroup_enabled")


def small_query_latencies(url: str, seconds: float) -> list[float]:
    """The small SELECT every 10 ms for `seconds`, on one connection; sorted latencies in ms."""
    out = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SMALL)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            conn.execute(SMALL).fetchone()
            out.append(1000 * (time.perf_counter() - started))
            time.sleep(0.01)
    return sorted(out)


class HeavyQueries:
    """`n` backends running HEAVY (as agent queries run: no parallel workers) until stopped."""

    def __init__(self, url: str, n: int, *, timeout_s: float) -> None:
        self.conns = [psycopg.connect(url, autocommit=True) for _ in range(n)]
        self.pids = [conn.info.backend_pid for conn in self.conns]
        for conn in self.conns:
            conn.execute("SET max_parallel_workers_per_gather = 0")
            conn.execute(f"SET statement_timeout = {int(timeout_s * 1000)}")
        self.threads = [threading.Thread(target=self._run, args=(conn,), daemon=True) for conn in self.conns]
        for thread in self.threads:
            thread.start()
        time.sleep(0.5)  # planned (and JIT-compiled) before the first sample

    @staticmethod
    def _run(conn: psycopg.Connection) -> None:
        try:
            conn.execute(HEAVY)
        except psycopg.Error:
            pass  # canceled at the end of the phase, or its statement timeout

    def nice(self, value: int) -> None:
        for pid in self.pids:
            os.setpriority(os.PRIO_PROCESS, pid, value)

    def stop(self) -> None:
        for conn in self.conns:
            conn.cancel_safe()
        for thread in self.threads:
            thread.join(timeout=30)
        for conn in self.conns:
            conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--heavy", type=int, default=os.cpu_count() or 2, help="heavy queries (default: one per core)")
    args = parser.parse_args()
    server = find_or_start()
    try:
        autogroup = AUTOGROUP.read_text().strip() if AUTOGROUP.exists() else "absent"
        print(f"bench_cpu_tail: `{SMALL}` every 10 ms, {args.seconds:g} s per phase; {args.heavy} heavy "
              f"queries on {os.cpu_count()} core(s); kernel.sched_autogroup_enabled = {autogroup}")
        print(f"{'phase':<26} {'n':>6} {'p50 ms':>7} {'p99 ms':>7} {'p99 / idle':>10}")
        base = None
        for name, nice in (("idle cores", None), ("heavy queries, nice 0", 0), ("heavy queries, nice 19", 19)):
            heavy = None if nice is None else HeavyQueries(server.admin_url, args.heavy, timeout_s=args.seconds + 20)
            try:
                if heavy is not None and nice:
                    try:
                        heavy.nice(nice)
                    except PermissionError:
                        print(f"{name:<26} skipped: renicing PostgreSQL's backends needs root or its OS user")
                        continue
                lat = small_query_latencies(server.admin_url, args.seconds)
            finally:
                if heavy is not None:
                    heavy.stop()
            p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(0.99 * len(lat)))]
            base = p99 if base is None else base
            print(f"{name:<26} {len(lat):>6} {p50:>7.2f} {p99:>7.2f} {p99 / base:>10.2f}")
        return 0
    finally:
        if callable(server.stop):
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
