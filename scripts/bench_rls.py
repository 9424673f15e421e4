"""What tenancy costs on the read path: raw SQL against the org-scoped door, at 1M CRM rows.

Run: .venv/bin/python scripts/bench_rls.py [--orgs 1000] [--rows 1000000] [--seconds 10]
                                            [--server-cost] [--quick]

Builds a migrated database of its own (roles included) on the configured
server, seeds accounts/contacts/opportunities with COPY, then times three reads
over random orgs and ids, each two ways on one connection and one thread:
  raw  - the superuser (RLS bypassed) with an explicit org_id predicate: the
         physical limit with no tenancy at all;
  door - app.db.Database.read_all/read_one as the application role, under RLS.
Short alternating rounds cancel drift. EXPLAIN (as the app role, org set with
SET LOCAL) must show the org predicate as an Index Cond and the policy's
(SELECT app.current_org()) as an InitPlan, or the script exits 1 (a missed
throughput target is printed as MISS but does not fail the run: timings are
machine-dependent). --server-cost also prints PostgreSQL's own time per point read (a PL/pgSQL
loop, no client) as the superuser and as the app role under RLS.

The door is itself what earlier prototypes of this script proposed (one round trip, statements
prepared once per connection, app/db/wire.py; an inlinable app.current_org(), sql/002): they
were removed once adopted. What a door read costs beyond raw, and what was tried against it,
is in docs/benchmarks.md.
Everything it created is dropped at the end, also on failure or Ctrl-C.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from app.db import Database
from app.devdb.databases import DatabaseFactory, TestDatabase
from app.devdb.server import find_or_start

TARGETS = {"point": None, "aggregate": 0.90, "list": 0.90}  # door/raw throughput (issue 25; point reported); None: report
ROUND_S = 0.25
DAYS = 730

# ----- the three reads, as the repositories would write them -------------------------------
# {scope} is the explicit org predicate the repositories keep ("org_id = %(org)s"); EXPLAIN also
# checks each read with TRUE there, so that the policy alone must reach the index.
QUERIES: dict[str, tuple[str, tuple[str, ...], sql.SQL]] = {
    "point": ("contacts", ("id",), sql.SQL(
        "SELECT id, account_id, first_name, last_name, email, phone, title, lifecycle_stage,"
        " created_at, updated_at FROM contacts WHERE {scope} AND id = {id}")),
    "list": ("contacts", ("after_ts", "after_id"), sql.SQL(
        "SELECT id, account_id, first_name, last_name, email, lifecycle_stage, created_at"
        " FROM contacts WHERE {scope} AND (created_at, id) > ({after_ts}, {after_id})"
        " ORDER BY created_at, id LIMIT 50")),
    "aggregate": ("opportunities", (), sql.SQL(
        "SELECT stage, count(*) AS deals, sum(amount) AS total FROM opportunities"
        " WHERE {scope} GROUP BY stage ORDER BY stage")),
}


def params_of(op: str, *, explicit: bool = True) -> tuple[str, ...]:
    return (("org",) if explicit else ()) + QUERIES[op][1]


def render(op: str, *, explicit: bool = True, numbered: bool = False) -> sql.Composed:
    """The query with %(name)s placeholders, or $1..$n for PREPARE."""
    names = params_of(op, explicit=explicit)
    marks = {n: sql.SQL("$" + str(i)) if numbered else sql.Placeholder(n) for i, n in enumerate(names, 1)}
    scope = sql.SQL("org_id = {}").format(marks.pop("org")) if explicit else sql.SQL("TRUE")
    return QUERIES[op][2].format(scope=scope, **marks)


# ----- seeding ------------------------------------------------------------------------------
FIRST = ["Ada", "Alan", "Amir", "Ana", "Ben", "Carla", "Chen", "Dana", "Eli", "Emma", "Eva", "Finn", "Grace", "Hana", "Ivan", "Jon", "Kai", "Lea", "Liam", "Lina", "Luca", "Maya", "Mia", "Nia", "Noah", "Omar", "Priya", "Raj", "Rosa", "Sam", "Sara", "Tom", "Uma", "Vera", "Yui", "Zoe"]
LAST = ["Adams", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hall", "Ito", "Jones", "Khan", "Kim", "Lopez", "Martin", "Meyer", "Nakamura", "Novak", "Okafor", "Patel", "Quinn", "Rossi", "Sato", "Schmidt", "Silva", "Smith", "Tanaka", "Torres", "Weber", "Wong", "Young"]
WORDS = ["Acme", "Apex", "Blue", "Bright", "Cedar", "Delta", "Echo", "Globex", "Harbor", "Iron", "Lumen", "Nova", "Orbit", "Peak", "Pine", "Quantum", "River", "Summit", "Terra", "Vertex"]
KINDS = ["Labs", "Systems", "Logistics", "Health", "Foods", "Capital", "Energy", "Media", "Robotics", "Studio"]
INDUSTRIES = ["software", "retail", "manufacturing", "healthcare", "finance", "logistics", "media", "energy", "education"]
TITLES = ["CEO", "CTO", "CFO", "Sales", "Engineer", "Buyer", "Analyst", "Manager", "Director", "Founder"]
LIFECYCLE = (("lead", 50), ("subscriber", 15), ("customer", 25), ("evangelist", 5), ("other", 5))
STAGES = (("prospecting", 25), ("qualification", 20), ("proposal", 15), ("negotiation", 10),
          ("closed_won", 15), ("closed_lost", 15))
PROBABILITY = {"prospecting": 10, "qualification": 25, "proposal": 50, "negotiation": 75,
               "closed_won": 100, "closed_lost": 0}


@dataclass
class Seeded:
    """What the workload draws from: every contact per org in (created_at, id) order."""

    orgs: list[uuid.UUID]
    contacts: dict[uuid.UUID, list[tuple[datetime, uuid.UUID]]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _timeline(rng: random.Random, n: int, start: datetime) -> Iterator[datetime]:
    """n creation times over two years, ascending: rows of all orgs interleave on disk, as in life."""
    for t in sorted(rng.random() for _ in range(n)):
        yield start + timedelta(days=DAYS * t)


def _pick(rng: random.Random, pairs: tuple[tuple[str, int], ...], k: int) -> list[str]:
    return rng.choices([p for p, _ in pairs], weights=[w for _, w in pairs], k=k)


def _copy(conn: psycopg.Connection, table: str, columns: tuple[str, ...], rows: Iterator[tuple]) -> int:
    stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
    n = 0
    with conn.cursor().copy(stmt) as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def seed(admin_url: str, *, orgs: int, rows: int, rng: random.Random) -> Seeded:
    """Orgs, then ~10% accounts, 60% contacts, 30% opportunities, with lognormal org sizes."""
    start = datetime.now(UTC) - timedelta(days=DAYS)
    org_ids = [_uuid(rng) for _ in range(orgs)]
    weights = [rng.lognormvariate(0, 0.5) for _ in org_ids]
    out = Seeded(orgs=org_ids, contacts={o: [] for o in org_ids})
    accounts: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] = {o: [] for o in org_ids}

    def org_rows() -> Iterator[tuple]:
        for i, org in enumerate(org_ids):
            yield org, f"Org {i}", f"bench-org-{i}", start

    def account_rows(n: int) -> Iterator[tuple]:
        for org, at in zip(rng.choices(org_ids, weights, k=n), _timeline(rng, n, start)):
            a, b = rng.choice(WORDS), rng.choice(KINDS)
            domain = f"{a}{b}{rng.randrange(10**4)}.com".lower()
            aid = _uuid(rng)
            accounts[org].append((aid, domain))
            yield (org, aid, f"{a} {b}", domain, rng.choice(INDUSTRIES),
                   int(rng.lognormvariate(4, 1.5)), f"{rng.lognormvariate(15, 1.5):.2f}",
                   f"+1-555-{rng.randrange(10**7):07d}", f"https://{domain}", at, at)

    def contact_rows(n: int) -> Iterator[tuple]:
        stages = _pick(rng, LIFECYCLE, n)
        for org, at, stage in zip(rng.choices(org_ids, weights, k=n), _timeline(rng, n, start), stages):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            acct = rng.choice(accounts[org]) if accounts[org] and rng.random() < 0.9 else None
            domain = acct[1] if acct else "mail.example"
            cid = _uuid(rng)
            out.contacts[org].append((at, cid))
            yield (org, cid, acct and acct[0], first, last,
                   f"{first}.{last}{rng.randrange(1000)}@{domain}".lower(),
                   f"+1-555-{rng.randrange(10**7):07d}", rng.choice(TITLES), stage, at, at)

    def opportunity_rows(n: int) -> Iterator[tuple]:
        stages = _pick(rng, STAGES, n)
        for org, at, stage in zip(rng.choices(org_ids, weights, k=n), _timeline(rng, n, start), stages):
            acct = rng.choice(accounts[org])[0] if accounts[org] else None
            contact = rng.choice(out.contacts[org])[1] if out.contacts[org] and rng.random() < 0.7 else None
            yield (org, _uuid(rng), acct, contact, f"{rng.choice(WORDS)} renewal {at:%Y-%m}", stage,
                   f"{rng.lognormvariate(9.5, 1.2):.2f}", "USD", PROBABILITY[stage],
                   (at + timedelta(days=rng.randint(14, 180))).date(), at, at)

    plan = (
        ("organizations", ("id", "name", "slug", "created_at"), org_rows()),
        ("accounts", ("org_id", "id", "name", "domain", "industry", "employee_count", "annual_revenue",
                      "phone", "website", "created_at", "updated_at"), account_rows(rows // 10)),
        ("contacts", ("org_id", "id", "account_id", "first_name", "last_name", "email", "phone", "title",
                      "lifecycle_stage", "created_at", "updated_at"), contact_rows(rows * 6 // 10)),
        ("opportunities", ("org_id", "id", "account_id", "primary_contact_id", "name", "stage", "amount",
                           "currency", "probability", "close_date", "created_at", "updated_at"),
         opportunity_rows(rows * 3 // 10)),
    )
    with psycopg.connect(admin_url) as conn:  # the superuser: COPY bypasses RLS; FKs still checked
        for table, columns, generated in plan:
            out.counts[table] = _copy(conn, table, columns, generated)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) organizations, accounts, contacts, opportunities")
    return out


# ----- the workload ---------------------------------------------------------------------------
def workload(seeded: Seeded, *, rng: random.Random, n: int) -> dict[str, list[dict[str, Any]]]:
    """n parameter sets per read, over random orgs and ids; a page starts after a random contact."""
    populated = [o for o in seeded.orgs if seeded.contacts[o]]
    point, page, agg = [], [], []
    floor = (datetime(1970, 1, 1, tzinfo=UTC), uuid.UUID(int=0))
    for _ in range(n):
        org = rng.choice(populated)
        rows = seeded.contacts[org]
        point.append({"org": org, "id": rng.choice(rows)[1]})
        after = rows[rng.randrange(len(rows) - 50)] if len(rows) > 50 else floor
        page.append({"org": org, "after_ts": after[0], "after_id": after[1]})
        agg.append({"org": rng.choice(seeded.orgs)})
    return {"point": point, "list": page, "aggregate": agg}


@dataclass
class Sample:
    latencies_ns: list[int] = field(default_factory=list)
    elapsed_ns: int = 0
    cursor: int = 0

    def ops_per_s(self) -> float:
        return len(self.latencies_ns) / (self.elapsed_ns / 1e9)

    def pct_us(self, p: float) -> float:
        xs = sorted(self.latencies_ns)
        return xs[min(len(xs) - 1, int(p * len(xs)))] / 1000


def run_round(call: Callable[[dict], Any], params: list[dict], sample: Sample, *, seconds: float,
              record: bool = True) -> None:
    """Call back to back for `seconds`, recording each call's latency."""
    now = time.perf_counter_ns
    end = now() + int(seconds * 1e9)
    t0 = now()
    while True:
        p = params[sample.cursor % len(params)]
        sample.cursor += 1
        a = now()
        call(p)
        b = now()
        if record:
            sample.latencies_ns.append(b - a)
        if b >= end:
            break
    if record:
        sample.elapsed_ns += now() - t0


def syncs_per_call(conn: psycopg.Connection, call: Callable[[dict], Any], params: dict) -> int:
    """ReadyForQuery messages in one call, from libpq's protocol trace: each one is a Sync the
    client waited for, i.e. a round trip."""
    with tempfile.TemporaryFile() as trace:
        conn.pgconn.trace(os.dup(trace.fileno()))  # libpq gets its own FILE; untrace flushes it
        try:
            call(params)
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        return trace.read().count(b"\tReadyForQuery")


def compare(paths: dict[str, Callable[[dict], Any]], params: list[dict], *,
            seconds: float, warmup_s: float) -> dict[str, Sample]:
    """Alternate short rounds of each path (order flipped every round) until each has `seconds`."""
    samples = {name: Sample() for name in paths}
    for i, (name, call) in enumerate(paths.items()):
        # Each path reads its own slice of the parameters, so no path finds pages another just warmed.
        samples[name].cursor = i * len(params) // len(paths)
        run_round(call, params, samples[name], seconds=warmup_s, record=False)
    order = list(paths)
    while min(s.elapsed_ns for s in samples.values()) < seconds * 1e9:
        for name in order:
            run_round(paths[name], params, samples[name], seconds=ROUND_S)
        order.reverse()
    return samples


# ----- EXPLAIN: the org predicate must reach the index ---------------------------------------
def _nodes(plan: dict) -> Iterator[dict]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def check_plan(plan: dict, table: str, *, policy_alone: bool) -> tuple[bool, str]:
    """org_id in an Index Cond on `table`, no Seq Scan of it, current_org() as an InitPlan; with
    no explicit predicate the InitPlan's parameter itself must be in the Index Cond."""
    nodes = list(_nodes(plan))
    init = [n for n in nodes if n.get("Parent Relationship") == "InitPlan"  # called, or inlined
            and re.search(r"current_org|'app\.org_id'", " ".join(n.get("Output", [])))]
    # How a plan names the InitPlan's value: up to PostgreSQL 16 "InitPlan 1 (returns $0)", used as $0;
    # from 17 on "InitPlan 1", used as (InitPlan 1).col1.
    name = init[0].get("Subplan Name", "") if init else ""
    found = re.search(r"returns (\$\d+)", name)
    param = found.group(1) if found else f"({name})" if name else "<none>"
    conds = [n["Index Cond"] for n in nodes if "org_id" in n.get("Index Cond", "")]
    seq = any(n["Node Type"] == "Seq Scan" and n.get("Relation Name") == table for n in nodes)
    policy_at = [key for n in nodes for key in ("Index Cond", "One-Time Filter", "Filter")
                 if param in n.get(key, "")]
    ok = bool(init) and bool(conds) and not seq and (not policy_alone or "Index Cond" in policy_at)
    scans = ", ".join(f"{n['Node Type']} {n.get('Index Name', n.get('Relation Name'))}"
                      for n in nodes if "Scan" in n["Node Type"])
    detail = (f"{scans}; Index Cond {conds[0] if conds else '-'}; InitPlan {param if init else 'MISSING'}"
              f" in {', '.join(policy_at) or 'nothing'}")
    return ok, detail


def explain(app_url: str, op: str, params: dict) -> dict[str, tuple[bool, str]]:
    """Plans as the app role with the org set as the door sets it: the custom plan, the generic
    plan a prepared statement may switch to, and the query without its explicit org predicate."""
    table = QUERIES[op][0]
    explain_as = sql.SQL("EXPLAIN (VERBOSE, FORMAT JSON) {}")
    verdicts = {}
    with psycopg.connect(app_url) as conn, conn.transaction(force_rollback=True):
        conn.execute(_set_org(params["org"]))
        row = conn.execute(explain_as.format(render(op)), params).fetchone()
        verdicts["custom"] = check_plan(row[0][0]["Plan"], table, policy_alone=False)
        row = conn.execute(explain_as.format(render(op, explicit=False)), params).fetchone()
        verdicts["policy"] = check_plan(row[0][0]["Plan"], table, policy_alone=True)
        conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        conn.execute(sql.SQL("PREPARE bench_generic AS {}").format(render(op, numbered=True)))
        args = sql.SQL(", ").join(sql.Literal(params[n]) for n in params_of(op))
        row = conn.execute(explain_as.format(sql.SQL("EXECUTE bench_generic ({})").format(args))).fetchone()
        verdicts["generic"] = check_plan(row[0][0]["Plan"], table, policy_alone=False)
    return verdicts


def _set_org(org: object) -> sql.Composed:
    return sql.SQL("SET LOCAL app.org_id = {}").format(sql.Literal(str(org)))


def statement_us(url: str, params: dict, *, reads: int = 20_000) -> float:
    """Server time of one point read, from a PL/pgSQL loop in one transaction: no client, no network."""
    loop = sql.SQL("DO $loop$ DECLARE t0 timestamptz := clock_timestamp(); r record; BEGIN"
                   " FOR i IN 1..{n} LOOP SELECT id, first_name INTO r FROM contacts"
                   " WHERE org_id = {org} AND id = {id}; END LOOP;"
                   " RAISE NOTICE '%', extract(epoch FROM clock_timestamp() - t0) / {n} * 1e6; END $loop$")
    notices: list[float] = []
    with psycopg.connect(url) as conn:
        conn.add_notice_handler(lambda d: notices.append(float(d.message_primary or "nan")))
        conn.execute(_set_org(params["org"]))
        conn.execute(loop.format(n=reads, org=sql.Literal(params["org"]), id=sql.Literal(params["id"])))
    return notices[0]


def policy_function_cost(db: TestDatabase, params: list[dict], *, reps: int = 5) -> None:
    """PostgreSQL's time per point read as the superuser (no RLS) and as the app role (RLS, org set)."""
    runs: dict[str, list[float]] = {"superuser, no RLS": [], "app role, RLS": []}
    for i in range(reps):
        runs["superuser, no RLS"].append(statement_us(db.admin_url, params[i]))
        runs["app role, RLS"].append(statement_us(db.app_url, params[i]))
    print("\nserver µs per point read (PL/pgSQL loop, 20k reads; median of", reps, "runs):")
    for name, xs in runs.items():
        print(f"  {name:<20} {sorted(xs)[len(xs) // 2]:7.1f}   runs {' '.join(f'{x:.1f}' for x in xs)}")


# ----- main --------------------------------------------------------------------------------
def _verdict(ratio: float, target: float | None) -> str:
    return "report" if target is None else ("PASS" if ratio >= target else "MISS")


def report(results: dict[str, dict[str, Sample]]) -> bool:
    """The table, then door/raw throughput against the targets. True when no target is missed."""
    print(f"\n{'read':<10} {'path':<13} {'ops/s':>7} {'p50 µs':>8} {'p99 µs':>8} {'calls':>7} {'/raw':>6}")
    for op, samples in results.items():
        for name, s in samples.items():
            ratio = s.ops_per_s() / samples["raw"].ops_per_s()
            print(f"{op:<10} {name:<13} {s.ops_per_s():>7.0f} {s.pct_us(0.5):>8.1f} {s.pct_us(0.99):>8.1f}"
                  f" {len(s.latencies_ns):>7} {ratio:>6.3f}")
    print(f"\n{'read':<10} {'door/raw':>9} {'target':>8}  verdict")
    met = True
    for op, samples in results.items():
        ratio = samples["door"].ops_per_s() / samples["raw"].ops_per_s()
        verdict = _verdict(ratio, TARGETS[op])
        met &= verdict != "MISS"
        others = "  ".join(f"{name} {s.ops_per_s() / samples['raw'].ops_per_s():.3f}"
                           f" {_verdict(s.ops_per_s() / samples['raw'].ops_per_s(), TARGETS[op])}"
                           for name, s in samples.items() if name not in ("raw", "door"))
        target = f">= {TARGETS[op]}" if TARGETS[op] else "-"
        print(f"{op:<10} {ratio:>9.3f} {target:>8}  {verdict:<6}  {others}".rstrip())
    return met


def run(args: argparse.Namespace, factory: DatabaseFactory) -> int:
    rng = random.Random(args.seed)
    db = factory.build_template()
    print(f"database {db.name} (roles {factory.prefix}_*), {args.orgs} orgs, {args.rows} rows")
    t = time.perf_counter()
    seeded = seed(db.admin_url, orgs=args.orgs, rows=args.rows, rng=rng)
    print(f"seeded {seeded.counts}, vacuumed and analyzed in {time.perf_counter() - t:.1f} s")
    params = workload(seeded, rng=rng, n=20_000)

    plans_ok = True
    print("\nEXPLAIN as the app role (SET LOCAL app.org_id): custom plan, without the explicit"
          " org predicate (policy alone), generic plan")
    for op in QUERIES:
        for kind, (ok, detail) in explain(db.app_url, op, params[op][0]).items():
            plans_ok &= ok
            print(f"  {op:<10} {kind:<8} {'OK ' if ok else 'BAD'} {detail}")

    door = Database(db.app_url, min_size=1, max_size=1, name="bench-door").open()
    raw = psycopg.connect(db.admin_url, autocommit=True, row_factory=dict_row)
    with door._connection() as door_conn:  # the pool's only connection: every door path uses it
        pass
    try:
        results = {}
        print("\nround trips per call (ReadyForQuery in the protocol trace):")
        for op in QUERIES:
            # Rendered once, as app/db/statement_text.py renders the app's hot statements; raw and door get
            # the same text (psycopg.sql rendering per call, 5-20 us, is not what tenancy costs).
            query = render(op).as_string(None)
            read = door.read_one if op == "point" else door.read_all
            paths: dict[str, Callable[[dict], Any]] = {
                "raw": lambda p, q=query: raw.execute(q, p).fetchall(),
                "door": lambda p, q=query, r=read: r(p["org"], q, p),
            }
            trips = {name: syncs_per_call(raw if name == "raw" else door_conn, call, params[op][0])
                     for name, call in paths.items()}
            print(f"  {op:<10} " + "  ".join(f"{name} {n}" for name, n in trips.items()))
            results[op] = compare(paths, params[op], seconds=args.seconds, warmup_s=args.warmup)
        met = report(results)
        if args.server_cost:
            policy_function_cost(db, params["point"])
    finally:
        raw.close()
        door.close()
    print(f"\nplans {'OK' if plans_ok else 'BAD'}; targets {'met' if met else 'MISSED'}")
    return 0 if plans_ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=1_000_000, help="CRM rows in all (10/60/30%%)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per read per path")
    parser.add_argument("--warmup", type=float, default=2.0, help="unrecorded seconds per read per path")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--server-cost", action="store_true",
                        help="also print PostgreSQL's time per point read, superuser against app role")
    parser.add_argument("--quick", action="store_true", help="smoke run: 50 orgs, 20k rows, 1 s")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # progress shows up even when piped to a file
    if args.quick:
        args.orgs, args.rows, args.seconds, args.warmup = 50, 20_000, 1.0, 0.3

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    server = find_or_start()
    factory = DatabaseFactory(server)
    try:
        return run(args, factory)
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not skip the cleanup
            signal.signal(signum, signal.SIG_IGN)
        factory.drop_all()
        if getattr(server, "stop", None):
            server.stop()  # type: ignore[operator]


if __name__ == "__main__":
    sys.exit(main())
