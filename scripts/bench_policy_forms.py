"""The two policy forms side by side: (SELECT app.current_org()) against app.current_org() (Citus).

Run: .venv/bin/python -m scripts.bench_policy_forms [--orgs 1000] [--rows 1000000] [--seconds 10]

Seeds one database as scripts/bench_rls.py does, clones it (the same pages, the
same statistics), rewrites every policy of the clone into the citus form
(atlas_meta.set_policy_form, sql/120_policy_form.sql), then:

- EXPLAIN of bench_rls's three reads (point, list, aggregate) as the app role in
  each form: custom plan, the policy alone (no explicit org predicate), generic
  plan. The subquery form must show the InitPlan in the Index Cond; the citus
  form the inlined app.current_org() (current_setting) in the Index Cond and no
  InitPlan. A plan that misses exits 1.
- the door's throughput for each read in both forms, in short alternating rounds
  on one thread (order flipped each round), so drift on a busy machine hits both
  alike; the ratio citus/subquery is what to read, not the absolute figures;
- server time of a point read in a PL/pgSQL loop (no client, no network) in both
  forms, alternating, median of --reps runs;
- a read the org index cannot serve (a sequential scan of every contact, index and
  bitmap scans off): there the policy is a per-row Filter, evaluated once per
  statement as an InitPlan in the subquery form but on every row in the citus form.
Everything it created is dropped at the end.
"""
from __future__ import annotations

import argparse
import random
import re
import sys
import time
from typing import Any

import psycopg
from psycopg import sql

from app.db import Database
from app.devdb.databases import DatabaseFactory
from app.devdb.server import find_or_start
from scripts.bench_rls import (
    QUERIES,
    _nodes,
    _set_org,
    compare,
    params_of,
    render,
    seed,
    statement_us,
    workload,
)

FORMS = ("subquery", "citus")


def check(plan: dict, table: str, *, form: str, policy_alone: bool) -> tuple[bool, str]:
    """org_id in an Index Cond, no Seq Scan; the subquery form reads the org from an InitPlan, the
    citus form from the inlined function itself (no InitPlan at all)."""
    nodes = list(_nodes(plan))
    init = [n for n in nodes if n.get("Parent Relationship") == "InitPlan"]
    conds = [n["Index Cond"] for n in nodes if "org_id" in n.get("Index Cond", "")]
    seq = any(n["Node Type"] == "Seq Scan" and n.get("Relation Name") == table for n in nodes)
    if form == "subquery":
        name = init[0].get("Subplan Name", "") if init else ""
        found = re.search(r"returns (\$\d+)", name)
        marker = found.group(1) if found else "<none>"
    else:
        marker = "current_setting"
    in_cond = any(marker in c for c in conds)
    ok = bool(conds) and not seq and (bool(init) if form == "subquery" else not init)
    ok = ok and (in_cond or not policy_alone)
    scans = ", ".join(f"{n['Node Type']} {n.get('Index Name', n.get('Relation Name'))}"
                      for n in nodes if "Scan" in n["Node Type"])
    cond = conds[0] if conds else "-"
    return ok, f"{scans}; InitPlans {len(init)}; Index Cond {cond[:110]}"


def explain(app_url: str, op: str, params: dict, *, form: str) -> dict[str, tuple[bool, str]]:
    table = QUERIES[op][0]
    explain_as = sql.SQL("EXPLAIN (VERBOSE, FORMAT JSON) {}")
    verdicts = {}
    with psycopg.connect(app_url) as conn, conn.transaction(force_rollback=True):
        conn.execute(_set_org(params["org"]))
        row = conn.execute(explain_as.format(render(op)), params).fetchone()
        verdicts["custom"] = check(row[0][0]["Plan"], table, form=form, policy_alone=False)
        row = conn.execute(explain_as.format(render(op, explicit=False)), params).fetchone()
        verdicts["policy"] = check(row[0][0]["Plan"], table, form=form, policy_alone=True)
        conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        conn.execute(sql.SQL("PREPARE bench_generic AS {}").format(render(op, numbered=True)))
        args = sql.SQL(", ").join(sql.Literal(params[n]) for n in params_of(op))
        row = conn.execute(explain_as.format(sql.SQL("EXECUTE bench_generic ({})").format(args))).fetchone()
        verdicts["generic"] = check(row[0][0]["Plan"], table, form=form, policy_alone=False)
    return verdicts


def seq_scan_ms(app_url: str, org: object) -> float:
    """One count over every contact with index and bitmap scans off: the policy filters each row."""
    with psycopg.connect(app_url) as conn, conn.transaction(force_rollback=True):
        conn.execute(_set_org(org))
        for setting in ("enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan"):
            conn.execute(sql.SQL("SET LOCAL {} = off").format(sql.Identifier(setting)))
        conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        t0 = time.perf_counter()
        conn.execute("SELECT count(*) FROM contacts WHERE first_name <> ''").fetchone()
        return (time.perf_counter() - t0) * 1000


def run(args: argparse.Namespace, factory: DatabaseFactory) -> int:
    rng = random.Random(args.seed)
    base = factory.build_template()
    t = time.perf_counter()
    seeded = seed(base.admin_url, orgs=args.orgs, rows=args.rows, rng=rng)
    print(f"seeded {seeded.counts} in {time.perf_counter() - t:.1f} s")
    citus = factory.clone()  # the seeded template, copied: same pages, same statistics
    with psycopg.connect(citus.admin_url, autocommit=True) as conn:
        changed = conn.execute("SELECT atlas_meta.set_policy_form('citus')").fetchone()
        conn.execute("ANALYZE")
    with psycopg.connect(base.admin_url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    print(f"clone {citus.name}: {changed[0] if changed else 0} policies rewritten into the citus form")
    dbs = {"subquery": base, "citus": citus}
    params = workload(seeded, rng=rng, n=20_000)

    plans_ok = True
    print("\nEXPLAIN as the app role: custom plan, policy alone (no explicit org predicate), generic plan")
    for op in QUERIES:
        for form in FORMS:
            for kind, (ok, detail) in explain(dbs[form].app_url, op, params[op][0], form=form).items():
                plans_ok &= ok
                print(f"  {op:<10} {form:<9} {kind:<8} {'OK ' if ok else 'BAD'} {detail}")

    doors = {form: Database(db.app_url, min_size=1, max_size=1, name=f"bench-{form}").open()
             for form, db in dbs.items()}
    try:
        print(f"\n{'read':<10} {'form':<9} {'ops/s':>7} {'p50 µs':>8} {'p99 µs':>8} {'calls':>7}")
        ratios: dict[str, float] = {}
        for op in QUERIES:
            query = render(op)
            paths: dict[str, Any] = {}
            for form, door in doors.items():
                read = door.read_one if op == "point" else door.read_all
                paths[form] = lambda p, q=query, r=read: r(p["org"], q, p)
            samples = compare(paths, params[op], seconds=args.seconds, warmup_s=args.warmup)
            for form, s in samples.items():
                print(f"{op:<10} {form:<9} {s.ops_per_s():>7.0f} {s.pct_us(0.5):>8.1f} {s.pct_us(0.99):>8.1f}"
                      f" {len(s.latencies_ns):>7}")
            ratios[op] = samples["citus"].ops_per_s() / samples["subquery"].ops_per_s()
        print("\nthroughput citus/subquery: " + "  ".join(f"{op} {r:.3f}" for op, r in ratios.items()))
    finally:
        for door in doors.values():
            door.close()

    runs: dict[str, list[float]] = {form: [] for form in FORMS}
    for i in range(args.reps):
        order = FORMS if i % 2 == 0 else FORMS[::-1]
        for form in order:
            runs[form].append(statement_us(dbs[form].app_url, params["point"][i], reads=args.loop_reads))
    print(f"\nserver µs per point read (PL/pgSQL loop, {args.loop_reads} reads, alternating; median of {args.reps}):")
    for form, xs in runs.items():
        print(f"  {form:<9} {sorted(xs)[len(xs) // 2]:7.2f}   runs {' '.join(f'{x:.2f}' for x in xs)}")
    scans: dict[str, list[float]] = {form: [] for form in FORMS}
    for i in range(args.reps):
        for form in (FORMS if i % 2 == 0 else FORMS[::-1]):
            scans[form].append(seq_scan_ms(dbs[form].app_url, params["point"][i]["org"]))
    print(f"\nms per sequential scan of contacts with the policy as a Filter (median of {args.reps}):")
    for form, xs in scans.items():
        print(f"  {form:<9} {sorted(xs)[len(xs) // 2]:8.1f}   runs {' '.join(f'{x:.1f}' for x in xs)}")
    print(f"\nplans {'OK' if plans_ok else 'BAD'}")
    return 0 if plans_ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=1_000_000, help="CRM rows in all (10/60/30%%)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per read per form")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--reps", type=int, default=7, help="PL/pgSQL loop runs per form")
    parser.add_argument("--loop-reads", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quick", action="store_true", help="smoke run: 50 orgs, 20k rows, 1 s")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    if args.quick:
        args.orgs, args.rows, args.seconds, args.warmup, args.reps, args.loop_reads = 50, 20_000, 1.0, 0.3, 3, 2000
    server = find_or_start()
    factory = DatabaseFactory(server)
    try:
        return run(args, factory)
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        factory.drop_all()
        if getattr(server, "stop", None):
            server.stop()  # type: ignore[operator]


if __name__ == "__main__":
    sys.exit(main())
