"""Two checkouts of Atlas side by side: is one slower than the other? (a regression check, issue 26)

Run: .venv/bin/python -m scripts.bench_versions --a ../old --b . [--rounds 6] [--round-s 4] [--only get,list,create]

Each checkout (a git worktree with its own .venv, `make install`) serves its own migrated database
through its own production server (granian as `atlas serve` runs it, 2 workers x 4 threads, started by
that checkout's scripts/bench_api.py), seeded alike (an owner, a member, 1,000 contacts). wrk (the
same load as scripts/bench_peer.py: -t2 -c8) then runs short rounds on A and B in turn, the order
flipped every round, and the script prints, per kind, each side's median req/s and its server and
PostgreSQL CPU per request (scripts/cpu_split.py), and B/A per round and its median. Compare the
ratio of one run, never figures across runs. Everything is stopped and dropped at the end.
Both checkouts must have app/devdb (issue 26 on); an older one needs its own launcher.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from scripts.bench_peer import Request, ensure_wrk, lua_script, run_wrk
from scripts.cpu_split import CpuSampler

# Run by each checkout's own interpreter, in its own directory: its own server, its own database.
SERVE = """
import json, sys, tempfile
from app.devdb.databases import DatabaseFactory
from app.devdb.server import find_or_start
from scripts.bench_api import free_port, seed, start_server, stop_server, wait_until_up
factory = DatabaseFactory(find_or_start(announce=False))
factory.build_template()
db = factory.clone()
port = free_port()
proc = start_server(db, port=port, workers=2, threads=4, log=tempfile.TemporaryFile())
try:
    wait_until_up(port, proc)
    org, token, contact = seed(port, db, contacts=1000)
    print(json.dumps({"port": port, "token": token, "contact": contact, "pid": proc.pid,
                      "admin_url": db.admin_url, "db": db.name}), flush=True)
    sys.stdin.read()  # until the driver closes it
finally:
    stop_server(proc)
    factory.drop(db.name)
"""
KINDS = ("get", "list", "create")


def start(tree: Path) -> tuple[subprocess.Popen[str], dict]:
    python = tree / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{tree}: no .venv (run `make install` there)")
    proc = subprocess.Popen([str(python), "-c", SERVE], cwd=tree, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line:
        raise SystemExit(f"{tree}: the server did not start")
    return proc, json.loads(line)


def plan(info: dict) -> dict[str, Request]:
    headers = {"Authorization": f"Bearer {info['token']}", "Content-Type": "application/json"}
    return {"get": Request("GET", f"/api/v1/contacts/{info['contact']}", headers),
            "list": Request("GET", "/api/v1/contacts?limit=50", headers),
            "create": Request("POST", "/api/v1/contacts", headers,
                              json.dumps({"first_name": "Ada", "last_name": "Byron"}).encode())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--a", type=Path, required=True, help="the base checkout (e.g. a worktree of an older commit)")
    parser.add_argument("--b", type=Path, default=Path("."), help="the checkout compared with it (default: this one)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--round-s", type=float, default=4.0)
    parser.add_argument("--only", type=lambda s: [k for k in s.split(",") if k in KINDS], default=list(KINDS))
    args = parser.parse_args()
    args.threads, args.connections = 2, 8  # wrk, as bench_peer
    wrk = ensure_wrk()
    servers: dict[str, tuple[subprocess.Popen[str], dict]] = {}
    scripts = Path(tempfile.mkdtemp())
    try:
        for name, tree in (("A", args.a.resolve()), ("B", args.b.resolve())):
            servers[name] = start(tree)
        plans = {name: plan(info) for name, (_, info) in servers.items()}
        samplers = {name: CpuSampler(info["pid"], info["admin_url"], info["db"]) for name, (_, info) in servers.items()}
        lua = {(name, kind): lua_script(plans[name][kind], scripts, f"{name}-{kind}")
               for name in servers for kind in args.only}
        for kind in args.only:  # warm-up
            for name in servers:
                run_wrk(wrk, servers[name][1]["port"], plans[name][kind], lua[(name, kind)], args=args, seconds=1)
        got: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        for round_no in range(args.rounds):
            for kind in args.only:
                for name in ("A", "B") if round_no % 2 == 0 else ("B", "A"):
                    before = samplers[name].sample()
                    out = run_wrk(wrk, servers[name][1]["port"], plans[name][kind], lua[(name, kind)], args=args,
                                  seconds=args.round_s)
                    after = samplers[name].sample()
                    app_s, pg_s = after.since(before) if before and after else (0.0, 0.0)
                    requests = max(1, int(out["requests"]))
                    got.setdefault((kind, name), []).append(
                        (out["requests"] / args.round_s, 1e6 * app_s / requests, 1e6 * pg_s / requests))
        print(f"A = {args.a}, B = {args.b}; {args.rounds} alternating rounds x {args.round_s:g} s;"
              f" wrk -t2 -c8; load average at the end {', '.join(f'{x:.1f}' for x in __import__('os').getloadavg())}")
        print(f"{'kind':7} {'A req/s':>8} {'app us':>7} {'pg us':>6} {'B req/s':>8} {'app us':>7} {'pg us':>6}  B/A median (per round)")
        for kind in args.only:
            a, b = got[(kind, "A")], got[(kind, "B")]
            ratios = [rb[0] / ra[0] for ra, rb in zip(a, b, strict=True)]

            def med(rows: list[tuple[float, float, float]], i: int) -> float:
                return statistics.median(r[i] for r in rows)
            print(f"{kind:7} {med(a, 0):8.0f} {med(a, 1):7.0f} {med(a, 2):6.0f} {med(b, 0):8.0f} {med(b, 1):7.0f}"
                  f" {med(b, 2):6.0f}  {statistics.median(ratios):.3f} ({', '.join(f'{r:.2f}' for r in ratios)})")
    finally:
        for proc, _ in servers.values():
            if proc.stdin:
                proc.stdin.close()
            proc.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
