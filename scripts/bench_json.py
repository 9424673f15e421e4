"""Where a page's JSON is cheapest to build: PostgreSQL (bytes passed through) or orjson from tuples.

Run: .venv/bin/python scripts/bench_json.py [--rows 50] [--seconds 3]

Builds a migrated database of its own, seeds one org's opportunities (uuid,
text, exact numeric, int, date and timestamptz columns: every kind the CRM
answers with), then times one page read plus its JSON, on one connection,
both statements prepared, alternating short rounds:
  python - today's path: rows as dicts, app.serialize.rows_json, json.dumps;
  orjson - rows as tuples, app.serialize.page_json (orjson, Decimal as string);
  pg     - SELECT json_agg(...) and the text passed through as bytes. PostgreSQL's own
           JSON writes numerics as numbers and trims fractional seconds, so to keep the
           API's format it must cast each of those columns to text: that form is timed.
Prints µs per page for each, and whether orjson's bytes equal the python path's.
Everything it created is dropped at the end.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
from psycopg.rows import dict_row

from app.devdb.databases import DatabaseFactory
from app.devdb.server import find_or_start
from app.serialize import page_json, rows_json

COLUMNS = ("id, org_id, name, account_id, primary_contact_id, owner_id, amount, currency, stage,"
           " probability, close_date, created_at, updated_at")
ROWS = f"SELECT {COLUMNS} FROM opportunities WHERE org_id = %s ORDER BY created_at, id LIMIT %s"
# What the python path prints, written by PostgreSQL: numerics and times as the text Python would
# write (isoformat keeps 6 fractional digits unless they are all zero), everything else as is.
PG = ("SELECT coalesce(json_agg(json_build_object("
      "'id', id, 'org_id', org_id, 'name', name, 'account_id', account_id,"
      " 'primary_contact_id', primary_contact_id, 'owner_id', owner_id, 'amount', amount::text,"
      " 'currency', currency, 'stage', stage, 'probability', probability, 'close_date', close_date,"
      " 'created_at', replace(to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US+00:00'),"
      " '.000000+', '+'),"
      " 'updated_at', replace(to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US+00:00'),"
      " '.000000+', '+'))), '[]')::text"
      " FROM (SELECT * FROM opportunities WHERE org_id = %s ORDER BY created_at, id LIMIT %s) t")


def seed(conn: psycopg.Connection, rows: int) -> uuid.UUID:
    org = uuid.uuid4()
    conn.execute("INSERT INTO organizations (id, name, slug) VALUES (%s, 'Bench', %s)", [org, f"b{org.hex[:8]}"])
    rng = random.Random(3)
    start = datetime.now(UTC) - timedelta(days=300)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO opportunities (org_id, name, amount, stage, probability, close_date, created_at)"
            " VALUES (%s, %s, %s, 'proposal', %s, %s, %s)",
            [(org, f"Deal {i}", Decimal(rng.randrange(10**8)) / 100, rng.randrange(101),
              (start + timedelta(days=rng.randrange(300))).date(),
              start + timedelta(seconds=rng.uniform(0, 300 * 86400))) for i in range(rows)])
    return org


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    server = find_or_start()
    factory = DatabaseFactory(server)
    try:
        db = factory.build_template()
        with psycopg.connect(db.admin_url, autocommit=True) as conn:
            conn.execute("SET TIME ZONE 'UTC'")
            org = seed(conn, max(args.rows, 200))
            params = [org, args.rows]

            def python() -> bytes:
                rows = conn.cursor(row_factory=dict_row).execute(ROWS, params, prepare=True).fetchall()
                return json.dumps({"data": rows_json(rows), "nextCursor": None}, separators=(",", ":")).encode()

            def fast() -> bytes:
                cur = conn.cursor().execute(ROWS, params, prepare=True)
                names = [d.name for d in cur.description or ()]
                return page_json(names, cur.fetchall(), next_cursor=None)

            def pg() -> bytes:
                text = conn.execute(PG, params, prepare=True).fetchone()[0]  # type: ignore[index]
                return b'{"data":' + text.encode() + b',"nextCursor":null}'

            same = json.loads(python()) == json.loads(fast()) == json.loads(pg())
            paths = {"python": python, "orjson": fast, "pg": pg}
            spent = {name: [0.0, 0] for name in paths}
            end = time.monotonic() + 3 * args.seconds
            while time.monotonic() < end:
                for name, run in paths.items():
                    t0 = time.perf_counter()
                    for _ in range(20):
                        run()
                    spent[name][0] += time.perf_counter() - t0
                    spent[name][1] += 20
            print(f"bench_json: a page of {args.rows} opportunities, read and encoded on one connection")
            for name, (seconds, n) in spent.items():
                print(f"  {name:<7} {1e6 * seconds / n:8.1f} µs per page  ({n} pages)")
            print(f"  same values from all three: {same}")
            return 0 if same else 1
    finally:
        factory.drop_all()
        if callable(server.stop):
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
