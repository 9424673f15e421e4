"""The write hold of `atlas org move` under concurrent writes: logical replication against --copy.

Run: .venv/bin/python -m scripts.bench_placement --moves 6   (or .venv/bin/python -m scripts.bench_move_hold)

Starts a cluster of its own with wal_level = logical (the shared server's
configuration is not the bench's to change), seeds one org with --rows
accounts, and moves it to a dedicated database and home again, --moves times
per method, while --writers threads write to it as the application role (one
INSERT + UPDATE per transaction, --rate a second each, to wherever the org's
placement says, read afresh before each write: a router with no cache; a
refused write is retried after 20 ms, where the app tells clients 1 s). The hold, as a client
sees it, is the time from a move's first refused write (SQLSTATE AT503) to the
next accepted one; printed per method as p50 / p99 / max over the moves, with
the writes refused, the moves' own durations and the median of the mover's own
account of its hold (catch-up, verification, switch: the line it prints at the
switch). Everything is removed at the end.
"""
from __future__ import annotations

import argparse
import re
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg

from app.devdb.databases import DatabaseFactory, TestDatabase
from app.devdb.server import DURABLE, Cluster
from app.placement import move
from app.placement.locations import location_of
from scripts.bench_placement import write_once
from tests.support import rows

OPTIONS = DURABLE + " -c wal_level=logical -c max_replication_slots=16 -c max_wal_senders=16"
# The mover's line at the switch (app/placement/move.py): the hold and its three parts, in ms.
HELD = re.compile(r"released after (\d+) ms held \((\d+) ms to catch up, (\d+) ms to verify, (\d+) ms to switch\)")
PARTS = ("held", "catch-up", "verify", "switch")
Raw = dict[str, list[Any]]  # per method: holds, took (s), parts (tuples of PARTS, s), written, refused


@dataclass
class Writer:
    refused_at: float | None = None
    holds: list[float] = field(default_factory=list)  # seconds of each refusal streak
    written: int = 0
    refused: int = 0


def keep_writing(shared: TestDatabase, dedicated: TestDatabase, org: uuid.UUID, stop: threading.Event,
                 into: Writer, rate: float) -> None:
    where = {None: shared.app_url, location_of(dedicated.admin_url): dedicated.app_url}
    with psycopg.connect(shared.admin_url, autocommit=True) as control, \
            psycopg.connect(shared.app_url, autocommit=True) as home, \
            psycopg.connect(dedicated.app_url, autocommit=True) as away:
        conns = {shared.app_url: home, dedicated.app_url: away}
        while not stop.is_set():
            time.sleep(1 / rate)
            row = control.execute("SELECT location FROM org_placements WHERE organization_id = %s", (org,)).fetchone()
            conn = conns[where[row[0] if row else None]]
            try:
                write_once(conn, org)
            except psycopg.Error as exc:
                if exc.sqlstate != "AT503":
                    raise
                into.refused += 1
                if into.refused_at is None:
                    into.refused_at = time.monotonic()
                time.sleep(0.02)
                continue
            into.written += 1
            if into.refused_at is not None:
                into.holds.append(time.monotonic() - into.refused_at)
                into.refused_at = None


def measure(shared: TestDatabase, dedicated: TestDatabase, org: uuid.UUID, *, method: str, moves: int,
            writers: int, rate: float) -> dict[str, object]:
    stop = threading.Event()
    states = [Writer() for _ in range(writers)]
    threads = [threading.Thread(target=keep_writing, args=(shared, dedicated, org, stop, s, rate)) for s in states]
    for thread in threads:
        thread.start()
    holds, took, parts = [], [], []
    try:
        time.sleep(0.5)
        for n in range(moves):
            marks = [len(s.holds) for s in states]
            started = time.monotonic()
            plan = move.plan_move(shared.admin_url, shared.roles, org,
                                  to_url=dedicated.admin_url if n % 2 == 0 else None, method=method)
            said: list[str] = []
            move.run(plan, cache_s=0.0, say=said.append, pause=lambda step: None)
            parts += [tuple(float(ms) / 1000 for ms in m.groups()) for m in map(HELD.search, said) if m]
            took.append(time.monotonic() - started)
            time.sleep(0.3)  # the writers' first write after the switch
            holds.append(max((h for s, m in zip(states, marks, strict=True) for h in s.holds[m:]), default=0.0))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    return {"holds": holds, "took": took, "parts": parts, "written": sum(s.written for s in states),
            "refused": sum(s.refused for s in states)}


def summary(got: Raw) -> dict[str, float]:
    ordered = sorted(got["holds"])
    mover = {name: statistics.median(p[i] for p in got["parts"]) if got["parts"] else 0.0
             for i, name in enumerate(PARTS)}
    return {**mover, "p50": statistics.median(ordered), "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
            "max": ordered[-1], "move_s": statistics.median(got["took"]), "written": sum(got["written"]),
            "refused": sum(got["refused"])}


def run(*, moves: int, rows_n: int, writers: int, rate: float) -> None:
    cluster = Cluster(options=OPTIONS)
    cluster.start()
    factory = DatabaseFactory(cluster.server())
    try:
        factory.build_template()
        shared, dedicated = factory.clone(), factory.empty()
        with psycopg.connect(shared.admin_url, autocommit=True) as admin:
            org = rows.make_org(admin, "Bench")
            admin.execute("INSERT INTO accounts (org_id, name) SELECT %s, 'seed ' || g FROM generate_series(1, %s) g",
                          (org, rows_n))
        runs: dict[str, Raw] = {m: {"holds": [], "took": [], "parts": [], "written": [], "refused": []}
                                for m in ("copy", "logical")}
        for _ in range(max(1, moves // 2)):  # a move there and back per method in turn: the org grows alike
            for method, into in runs.items():
                one = measure(shared, dedicated, org, method=method, moves=2, writers=writers, rate=rate)
                for key, value in one.items():
                    into[key] += value if isinstance(value, list) else [float(value)]  # type: ignore[arg-type]
        for method, raw in runs.items():
            got = summary(raw)
            print(f"{method:8} write hold over {len(raw['holds'])} moves of {rows_n}+ accounts, {writers} writers at {rate:.0f}/s:"
                  f" p50 {1000 * got['p50']:.0f} ms, p99 {1000 * got['p99']:.0f} ms, max {1000 * got['max']:.0f} ms;"
                  f" move {got['move_s']:.1f} s (median); {got['written']:.0f} writes, {got['refused']:.0f} refused;"
                  f" the mover's hold (medians): {1000 * got['held']:.0f} ms = catch-up {1000 * got['catch-up']:.0f}"
                  f" + verify {1000 * got['verify']:.0f} + switch {1000 * got['switch']:.0f}", flush=True)
    finally:
        factory.drop_all()
        cluster.remove()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=6)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=50.0, help="writes a second per writer")
    args = parser.parse_args()
    run(moves=args.moves, rows_n=args.rows, writers=args.writers, rate=args.rate)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
