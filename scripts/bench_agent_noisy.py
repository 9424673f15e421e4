"""Noisy neighbours for the analytics agent: does org B keep its Ask and CRM latency while org A floods
the agent with questions?

Run: .venv/bin/python -m scripts.bench_agent_noisy [--phase-s 10] [--rate 20] [--model-delay-s 0.3]
                                                   [--flood-factor 4] [--flood-query heavy|light]
                                                   [--workers 2] [--threads 4]
A sibling of scripts/bench_noisy.py (its helpers, its server layout: granian as atlas serve runs it, 2 workers x 4
threads as `atlas serve`). A scripted OpenAI-compatible model server (tests/support/model_server.py) runs
in this process and answers each model call after --model-delay-s, as a hosted model would: first a tool
call (executeSQL; A's flood asks for a heavy query, B for a count), then an answer. Two phases:

    alone   B alone: its CRM reads (GET /api/v1/contacts?limit=1 and get-session, alternately, at --rate/s,
            each on a fresh connection) and, beside them, one question at a time (POST .../ask, read to the end)
    flood   the same while A keeps flood-factor x ATLAS_AGENT_MAX_ASKS_PER_ORG questions in flight (a 429
            waits its Retry-After, as a client should)

Prints B's CRM and Ask p50/p99 per phase, the p99 ratio flood/alone (target <= 1.5 for CRM; Ask shares the
model server and the agent's per-worker slots, see docs/agent.md), B's failures (target 0) and what A got
back (200 streams, 429 too_many_concurrent_asks ...). Everything created is dropped at the end.
"""
from __future__ import annotations

import argparse
import http.client
import json
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

from app.devdb.databases import DatabaseFactory, TestDatabase
from app.devdb.server import find_or_start
from scripts.bench_api import free_port, must, stop_server, wait_until_up
from scripts.bench_noisy import Attacker, measure_b, percentile, seed
from tests.support.model_server import ScriptedModel, scripted_model

ROOT = Path(__file__).resolve().parents[1]

TARGET_RATIO = 1.5
MAX_ASKS_PER_ORG = 2
HEAVY_SQL = "SELECT count(*) FROM generate_series(1,3000) a, generate_series(1,3000) b"
LIGHT_SQL = "SELECT lifecycle_stage, count(*) FROM contacts GROUP BY 1"
ENTITY = ("table: contacts\ndimensions:\n- name: id\n  sql: id\n  type: uuid\n"
          "- name: lifecycle_stage\n  sql: lifecycle_stage\n  type: string\n")


def model_turn(request: dict[str, Any]) -> dict[str, Any]:
    """The scripted model: a query first (A's flood names its own: "flood heavy" or "flood light"), then an answer."""
    messages = request.get("messages") or []
    if any(m.get("role") == "tool" for m in messages):
        return {"content": "done"}
    question = str(messages[-1].get("content", ""))
    return {"tool_calls": [("executeSQL", {"sql": HEAVY_SQL if question.startswith("flood heavy") else LIGHT_SQL})]}


def start_server(db: TestDatabase, model: ScriptedModel, *, port: int, workers: int, threads: int,
                 log: Any) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": db.admin_url, "ATLAS_ROLE_PREFIX": db.roles.owner.removesuffix("_owner"),
           "ATLAS_POOL_MAX_SIZE": str(max(threads, 4)), "ATLAS_CONFIG": os.devnull + ".absent",
           "ATLAS_AGENT_BASE_URL": model.url, "ATLAS_AGENT_MODEL": "bench",
           "ATLAS_AGENT_MAX_ASKS_PER_ORG": str(MAX_ASKS_PER_ORG), "ATLAS_AGENT_TOKENS_PER_DAY": "1000000000"}
    launch = ("from app import close_app, create_app; from app.serving import run; "
              f"run(create_app, close=close_app, host='127.0.0.1', port={port}, workers={workers}, "
              f"threads={threads}, graceful_timeout_s=5)")  # as `atlas serve` runs it (app/serving.py)
    return subprocess.Popen([sys.executable, "-c", launch], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=log)


def ask(port: int, token: str, conversation: str, question: str) -> tuple[int, float, dict]:
    """One question, its stream read to the end -> (status, seconds, headers); a stream without an answer is 599."""
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("POST", f"/api/v1/conversations/{conversation}/ask", body=json.dumps({"question": question}),
                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        response = conn.getresponse()
        text = response.read().decode(errors="replace")
        status = response.status
        if status == 200 and "event: answer" not in text:
            status = 599
        return status, time.perf_counter() - t0, dict(response.getheaders())
    finally:
        conn.close()


class Asker(threading.Thread):
    """B's questions, one at a time, until stopped: their latencies and failures."""

    def __init__(self, port: int, token: str, conversation: str) -> None:
        super().__init__(daemon=True)
        self.args = (port, token, conversation)
        self.latencies: list[float] = []
        self.failures = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                status, took, _ = ask(*self.args, "b: contacts per stage?")
                self.latencies.append(took)
                self.failures += status != 200
            except OSError:
                self.failures += 1
            self.stop.wait(0.2)


def run(args: argparse.Namespace, db: TestDatabase, log: Any) -> list[tuple[str, list[float], int, list[float], int, Counter]]:
    results = []
    with scripted_model([model_turn], delay_s=args.model_delay_s) as model:
        port = free_port()
        proc = start_server(db, model, port=port, workers=args.workers, threads=args.threads, log=log)
        try:
            wait_until_up(port, proc)
            orgs = seed(port)
            a, b = orgs["a"], orgs["b"]
            for org in (a, b):
                must(port, "PUT", "/api/v1/admin/semantic/org/entities/contacts", token=org["token"],
                     body={"yamlContent": ENTITY})
                must(port, "PATCH", "/api/v1/settings", token=org["token"], body={"queryRatePerMinute": 600})
                org["conversation"] = must(port, "POST", "/api/v1/conversations", token=org["token"], body={})["id"]
            for _ in range(3):  # warm both workers, the model client and the tools list
                ask(port, b["token"], b["conversation"], "warm-up")
            for phase in ("alone", "flood"):
                asker = Asker(port, b["token"], b["conversation"])
                statuses: Counter[int] = Counter()

                def flood(p: int) -> tuple[int, float, dict]:
                    return ask(p, a["token"], a["conversation"], f"flood {args.flood_query}: everything at once")
                attack = Attacker(port, args.flood_factor * MAX_ASKS_PER_ORG, flood) if phase == "flood" else None
                if attack is not None:
                    attack.__enter__()
                    time.sleep(1.0)
                asker.start()
                try:
                    crm, crm_failures = measure_b(port, b["token"], args.phase_s, args.rate)
                finally:
                    asker.stop.set()
                    asker.join(timeout=150)
                    if attack is not None:
                        attack.__exit__()
                        statuses = attack.statuses
                results.append((phase, crm, crm_failures, asker.latencies, asker.failures, statuses))
        finally:
            stop_server(proc)
    return results


def report(args: argparse.Namespace, results: list[tuple[str, list[float], int, list[float], int, Counter]]) -> None:
    base_crm, base_ask = percentile(results[0][1], 0.99), percentile(results[0][3], 0.99)
    print(f"granian {args.workers} workers x {args.threads} threads; model delay {args.model_delay_s}s a call;"
          f" A's questions run {args.flood_query} SQL;"
          f" B's CRM at {args.rate}/s for {args.phase_s}s; A's flood {args.flood_factor * MAX_ASKS_PER_ORG} clients"
          f" (ATLAS_AGENT_MAX_ASKS_PER_ORG {MAX_ASKS_PER_ORG}); {os.cpu_count()} CPUs")
    print(f"{'phase':6} {'CRM n':>5} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>5} {'fail':>4} | {'Ask n':>5} {'p50 ms':>7}"
          f" {'p99 ms':>7} {'ratio':>5} {'fail':>4} | A got")
    for phase, crm, crm_failures, asks, ask_failures, statuses in results:
        crm_ratio = percentile(crm, 0.99) / base_crm
        ask_ratio = percentile(asks, 0.99) / base_ask if asks else float("nan")
        verdict = "" if phase == "alone" else (" ok" if crm_ratio <= TARGET_RATIO and not crm_failures
                                               and not ask_failures else " MISS")
        print(f"{phase:6} {len(crm):5d} {percentile(crm, 0.5) * 1000:7.1f} {percentile(crm, 0.99) * 1000:7.1f}"
              f" {crm_ratio:5.2f} {crm_failures:4d} | {len(asks):5d} {percentile(asks, 0.5) * 1000:7.1f}"
              f" {percentile(asks, 0.99) * 1000:7.1f} {ask_ratio:5.2f} {ask_failures:4d} |"
              f" {dict(sorted(statuses.items()))}{verdict}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phase-s", type=float, default=10.0, help="seconds measured per phase (default 10)")
    parser.add_argument("--rate", type=float, default=20.0, help="B's CRM requests per second (default 20)")
    parser.add_argument("--model-delay-s", type=float, default=0.3, help="the model server's time per call")
    parser.add_argument("--flood-factor", type=int, default=4, help="A's flood, in multiples of its ask limit")
    parser.add_argument("--flood-query", choices=("heavy", "light"), default="heavy",
                        help="what A's questions make the agent run: heavy (a 9M-row count: CPU, as bench_noisy's"
                             " flood) or light (a count over contacts: the agent's own machinery)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server = find_or_start()
    factory = DatabaseFactory(server)
    log = tempfile.TemporaryFile()
    ok = False
    try:
        db = factory.build_template()
        report(args, run(args, db, log))
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
