"""The RLS benchmark's plan check (scripts/bench_rls.py) reads this server's EXPLAIN as it prints it.

The check must find the policy's `(SELECT app.current_org())` InitPlan and its value in the Index Cond;
PostgreSQL 16 names that value `$0`, 17 and later `(InitPlan 1).col1`. `make test` runs this on the
machine's PostgreSQL and on the embedded 18, so a check that only knows one spelling fails here. The
tables are empty and sequential scans are off: the plan's shape, not its cost, is what is read.
"""
from __future__ import annotations

import importlib.util
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_rls", ROOT / "scripts" / "bench_rls.py")
assert _spec is not None and _spec.loader is not None
bench_rls = importlib.util.module_from_spec(_spec)
sys.modules["bench_rls"] = bench_rls  # its dataclasses look their module up
_spec.loader.exec_module(bench_rls)

PARAMS = {
    "point": {"id": uuid.uuid4()},
    "list": {"after_ts": datetime(2026, 1, 1, tzinfo=UTC), "after_id": uuid.uuid4()},
    "aggregate": {},
}


@pytest.mark.parametrize("op", sorted(PARAMS))
def test_the_org_predicate_and_the_policy_reach_the_index_in_every_plan(fresh_db, op):
    app_url = make_conninfo(fresh_db.app_url, options="-c enable_seqscan=off")
    verdicts = bench_rls.explain(app_url, op, {"org": uuid.uuid4(), **PARAMS[op]})
    assert set(verdicts) == {"custom", "policy", "generic"}
    bad = {kind: detail for kind, (ok, detail) in verdicts.items() if not ok}
    assert bad == {}
    assert "(InitPlan" in verdicts["policy"][1] or "$0" in verdicts["policy"][1]
