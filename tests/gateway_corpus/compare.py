"""Running SQL on the seeded databases and comparing results as multisets."""
from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql


def normalize(value: Any) -> Any:
    """A hashable, order-stable value; floats to 9 significant digits (sum order varies)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return float(f"{value:.9g}")
    if isinstance(value, Decimal):
        return value.normalize() if value.is_finite() else str(value)
    if isinstance(value, (list, tuple)):
        return tuple(normalize(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, (dt.datetime, dt.date, dt.time, dt.timedelta)):
        return value
    return value


def multiset(rows: Iterable[tuple]) -> Counter:
    return Counter(tuple(normalize(v) for v in row) for row in rows)


def fetch_superuser(conn: psycopg.Connection, query: str, *, timeout_ms: int = 5000) -> list[tuple]:
    """Run query text as the superuser (RLS bypassed), read-only, then roll back.

    Pipelined like the gateway's execution: the extended protocol runs one statement only.
    """
    try:
        with conn.pipeline() as pipeline:
            conn.execute("BEGIN READ ONLY")
            conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(timeout_ms)))
            cur = conn.cursor()
            cur.execute(query)  # type: ignore[arg-type]
            pipeline.sync()
            return cur.fetchall() if cur.description else []
    finally:
        conn.rollback()


def fetch_as_agent(url: str, query: str, *, org_id: object, timeout_ms: int = 3000) -> list[tuple]:
    """Run query text as the agent role with RLS on (app.org_id set) and no gateway.

    The text goes through the pipeline (extended protocol): one statement only.
    Always rolled back.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            with conn.pipeline() as pipeline:
                conn.execute("BEGIN READ ONLY")
                conn.execute(sql.SQL("SET LOCAL app.org_id = {}").format(sql.Literal(str(org_id))))
                conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(timeout_ms)))
                cur = conn.cursor()
                cur.execute(query)  # type: ignore[arg-type]
                pipeline.sync()
                rows = cur.fetchall() if cur.description else []
        finally:
            conn.rollback()
        return rows


def texts(rows: Iterable[tuple]) -> str:
    """Every cell as text, for marker searches."""
    return "\n".join(repr(v) + " " + str(v) for row in rows for v in row)
