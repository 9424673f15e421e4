"""Whether sqlglotc (mypyc-compiled sqlglot, the pinned version) makes the gateway faster with identical results.

Run: .venv/bin/python -m scripts.bench_sqlglotc --overlay DIR [--repeat 5]
     DIR holds a copy of the pinned sqlglot package with sqlglotc's compiled modules copied over it
     (pip install --no-deps --target T sqlglotc==<sqlglot's version>; cp -r <site-packages>/sqlglot DIR/;
     cp -r T/sqlglot/. DIR/sqlglot/): extension modules load before the .py files beside them.

Runs app.gateway.prepare (sqlglot parse, the rules, regeneration, pglast cross-check) over
every entry of both gateway corpora (tests/gateway_corpus: analytic.sql and attacks.sql),
once in a child interpreter on the installed sqlglot and once with DIR first on sys.path.
Prints each one's total and per-query time and whether every outcome (the final SQL, or
the refusal's class and message) is identical; exits 1 if any differs. Touches no database.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORG = "6f1c2a4e-0000-4000-8000-000000000001"


def child(repeat: int) -> None:
    """In the child: prepare every corpus entry `repeat` times; print outcomes and seconds as JSON."""
    import sqlglot.tokens

    from app.errors import AtlasError
    from app.gateway import prepare
    from app.query_settings import CRM_TABLES
    from tests.gateway_corpus import load_corpus

    entries = load_corpus("analytic.sql") + load_corpus("attacks.sql")
    outcomes: dict[str, str] = {}
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        for entry in entries:
            try:
                outcome = prepare(entry.sql, org_id=ORG, allowed_tables=CRM_TABLES, row_limit=1000).sql
            except AtlasError as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            outcomes[entry.name] = outcome
        best = min(best, time.perf_counter() - began)
    print(json.dumps({"compiled": sqlglot.tokens.SQLGLOTC_INSTALLED, "seconds": best, "n": len(entries),
                      "version": sqlglot.__version__, "outcomes": outcomes}))


def run(repeat: int, overlay: str | None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (overlay, env.get("PYTHONPATH")) if p)
    # As a module from the root (which reaches tests/gateway_corpus); the overlay still comes before site-packages.
    out = subprocess.run([sys.executable, "-m", "scripts.bench_sqlglotc", "--child", "--repeat", str(repeat)], env=env,
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--overlay", help="the sqlglot copy with sqlglotc's modules over it")
    parser.add_argument("--repeat", type=int, default=5, help="passes over the corpora; the best one counts")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.repeat)
        return 0
    if not args.overlay:
        parser.error("--overlay is required")
    plain, compiled = run(args.repeat, None), run(args.repeat, args.overlay)
    if not compiled["compiled"] or plain["compiled"]:
        raise SystemExit("the overlay did not load sqlglotc's compiled modules (or the plain run did)")
    differ = sorted(name for name, outcome in plain["outcomes"].items() if compiled["outcomes"].get(name) != outcome)
    print(f"bench_sqlglotc: app.gateway.prepare over {plain['n']} corpus entries, best of {args.repeat} passes")
    for label, result in (("sqlglot", plain), ("sqlglotc", compiled)):
        print(f"  {label:<9} {result['version']:<8} {1000 * result['seconds']:8.1f} ms in all "
              f"{1e6 * result['seconds'] / result['n']:8.1f} µs per query")
    print(f"  speed-up {plain['seconds'] / compiled['seconds']:.2f}x; outcomes identical: {not differ}"
          + (f" (differ: {', '.join(differ[:10])})" if differ else ""))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
