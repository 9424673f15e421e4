"""What lock 1 costs: the SQL gateway's validate + rewrite + cross-check, against execution.

Run: .venv/bin/python -m scripts.bench_gateway [--rows 5000] [--repeat 300]

Builds a migrated database of its own on the configured server (as the tests
do), seeds the three gateway orgs and then --rows extra rows per CRM table for
org A, and measures, in one run, for a short, a medium and a long query:
  prepare  median and p99 microseconds of app.gateway.prepare (sqlglot parse,
           the RULES, regeneration, and PostgreSQL's parser on both texts);
           the share of it spent in pglast is printed too;
  execute  median microseconds of app.gateway.execute on a warm agent-role
           connection (one pipelined round trip under RLS);
  fraction prepare median / execute median;
  cache    run_query served from the in-process result cache (app/cache/__init__.py;
           the key is the normalized final SQL, and prepare itself is
           remembered per text, org and limits) against run_query executing
           (a result-cache miss; prepare remembered): what the caches save
           at most, since a hit still pays for prepare (the key is the final SQL).
Everything it created is dropped at the end.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import psycopg

from app.cache import MemoryCache
from app.devdb.databases import DatabaseFactory
from app.devdb.server import find_or_start
from app.gateway import crosscheck, prepare, run_query
from app.gateway.execute import execute
from app.query_settings import CRM_TABLES, QuerySettings
from tests.gateway_corpus.seed import seed

QUERIES = {
    "short": "SELECT count(*) FROM contacts WHERE lifecycle_stage = 'customer'",
    "medium": (
        "SELECT a.industry, count(DISTINCT c.id) AS contacts, sum(o.amount) AS pipeline "
        "FROM accounts a JOIN contacts c ON c.account_id = a.id "
        "LEFT JOIN opportunities o ON o.account_id = a.id AND o.stage <> 'closed_lost' "
        "WHERE a.created_at >= '2024-01-01' GROUP BY a.industry "
        "HAVING count(*) > (SELECT count(*) FROM sites) / 1000 ORDER BY pipeline DESC NULLS LAST"
    ),
    "long": (
        "WITH won AS (SELECT account_id, sum(amount) AS total, count(*) AS deals FROM opportunities "
        "WHERE stage = 'closed_won' GROUP BY account_id), "
        "active AS (SELECT account_id, count(*) AS n FROM activities WHERE completed_at IS NULL "
        "GROUP BY account_id), "
        "ranked AS (SELECT a.id, a.name, a.industry, coalesce(w.total, 0) AS total, "
        "rank() OVER (PARTITION BY a.industry ORDER BY coalesce(w.total, 0) DESC, a.id) AS r "
        "FROM accounts a LEFT JOIN won w ON w.account_id = a.id) "
        "SELECT r.industry, r.name, r.total, act.n AS open_activities, top.name AS best_deal, "
        "(SELECT count(*) FROM contacts c WHERE c.account_id = r.id) AS contacts, "
        "(SELECT max(n.created_at) FROM notes n WHERE n.account_id = r.id) AS last_note, "
        "CASE WHEN r.total > (SELECT avg(amount) FROM opportunities) THEN 'big' ELSE 'small' END AS size "
        "FROM ranked r LEFT JOIN active act ON act.account_id = r.id "
        "LEFT JOIN LATERAL (SELECT o.name FROM opportunities o WHERE o.account_id = r.id "
        "ORDER BY o.amount DESC, o.id LIMIT 1) top ON true "
        "WHERE r.r <= 3 AND EXISTS (SELECT 1 FROM sites s WHERE s.account_id = r.id) "
        "UNION ALL SELECT 'projects', p.name, p.budget, NULL, NULL, NULL, NULL, p.status "
        "FROM projects p WHERE p.status IN ('active', 'planned') ORDER BY 1, 3 DESC"
    ),
}

BULK = {  # extra rows for one org; parameters: org, count
    "accounts": "INSERT INTO accounts (org_id, name, industry, employee_count, created_at) "
                "SELECT %(org)s, 'Bulk ' || g, (ARRAY['software','retail','finance'])[1 + g %% 3], g %% 900, "
                "timestamptz '2024-01-01' + g * interval '1 minute' FROM generate_series(1, %(n)s) g",
    "contacts": "INSERT INTO contacts (org_id, first_name, lifecycle_stage, account_id, created_at) "
                "SELECT %(org)s, 'P' || g, (ARRAY['lead','customer','other'])[1 + g %% 3], a.id, "
                "timestamptz '2024-01-01' + g * interval '1 minute' FROM generate_series(1, %(n)s) g "
                "LEFT JOIN LATERAL (SELECT id FROM accounts WHERE org_id = %(org)s "
                "OFFSET g %% 500 LIMIT 1) a ON true",
    "opportunities": "INSERT INTO opportunities (org_id, name, stage, amount, account_id) "
                     "SELECT %(org)s, 'D' || g, (ARRAY['prospecting','closed_won','closed_lost'])[1 + g %% 3], "
                     "g %% 7000, a.id FROM generate_series(1, %(n)s) g "
                     "LEFT JOIN LATERAL (SELECT id FROM accounts WHERE org_id = %(org)s "
                     "OFFSET g %% 500 LIMIT 1) a ON true",
}


def timed_us(action: Callable[[], object], *, repeat: int) -> list[float]:
    action()  # warm up
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        action()
        samples.append((time.perf_counter_ns() - start) / 1000)
    return samples


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def bench(agent_url: str, org, *, repeat: int) -> None:
    settings = QuerySettings()
    print(f"{'query':7} {'chars':>5} {'prepare med':>12} {'p99':>9} {'pglast':>7} {'execute med':>12} "
          f"{'fraction':>9} {'cache hit':>9} {'cache miss':>10}")
    with psycopg.connect(agent_url, autocommit=True) as conn:
        for name, text in QUERIES.items():
            def prep() -> object:
                return prepare(text, org_id=org, allowed_tables=CRM_TABLES, row_limit=settings.row_limit)

            prepared = prep()
            prep_us = timed_us(prep, repeat=repeat)
            pg_us = timed_us(lambda: (crosscheck.pg_parse(text), crosscheck.pg_parse(prepared.sql)), repeat=repeat)
            exec_us = timed_us(lambda: execute(conn, prepared, settings=settings), repeat=max(20, repeat // 5))
            cache = MemoryCache(ttl_s=300, max_size=1_000)  # the endpoint's default backend
            connect = lambda: _Borrowed(conn)  # noqa: E731
            run_query(text, org_id=org, connect=connect, cache=cache)
            hit_us = timed_us(lambda: run_query(text, org_id=org, connect=connect, cache=cache), repeat=repeat)
            miss_us = timed_us(lambda: run_query(text, org_id=org, connect=connect), repeat=max(20, repeat // 5))
            med_prep, med_exec = statistics.median(prep_us), statistics.median(exec_us)
            print(f"{name:7} {len(text):5d} {med_prep:10.0f}us {p99(prep_us):7.0f}us "
                  f"{statistics.median(pg_us) / med_prep:6.0%} {med_exec:10.0f}us {med_prep / med_exec:9.2f} "
                  f"{statistics.median(hit_us):7.0f}us {statistics.median(miss_us):8.0f}us")


class _Borrowed:
    """A connection lent to run_query without closing it."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> psycopg.Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000, help="extra rows per bulk table for org A")
    parser.add_argument("--repeat", type=int, default=300, help="samples per measurement")
    args = parser.parse_args()
    factory = DatabaseFactory(find_or_start())
    try:
        factory.build_template()
        db = factory.clone()
        orgs, _ = seed(db.admin_url)
        with psycopg.connect(db.admin_url, autocommit=True) as conn:
            for statement in BULK.values():
                conn.execute(statement, {"org": orgs["orga"], "n": args.rows})  # type: ignore[arg-type]
            conn.execute("ANALYZE")
        print(f"org A: {args.rows} extra accounts, contacts and opportunities; {args.repeat} samples each")
        bench(db.agent_url, orgs["orga"], repeat=args.repeat)
    finally:
        factory.drop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
