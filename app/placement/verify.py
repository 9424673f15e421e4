"""Fingerprints of an org's rows in the source and the target, read side by side.

With the org's writes held, the verification is most of the hold: reading both
databases at once (two sessions, one thread each) halves it, and each side is
read by one statement, each table in one scan without a sort (`fingerprints`: a
count and two sums of 64-bit row hashes; the sorted MD5 `checksum` took 3-4x as
long). Every table matches exactly, but append-only tables, whose source rows
must all be in the target: equal fingerprints prove that too, and only an
append-only table whose fingerprints differ (the shared database keeps a
dedicated org's control-plane audit rows, so a move home finds more there) is
compared row hash by row hash.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import psycopg

from app.errors.operations import MoveError
from app.placement.tables import Table, digest, fingerprints, row_hashes, stable_output

Say = Callable[[str], None]
T = TypeVar("T")


def _both(source: psycopg.Connection, target: psycopg.Connection,
          read: Callable[[psycopg.Connection], T]) -> tuple[T, T]:
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="atlas-verify") as pool:
        here, there = (pool.submit(read, conn) for conn in (source, target))
        return here.result(), there.result()


def _hashes(conn: psycopg.Connection, tables: list[Table], org: uuid.UUID) -> dict[str, set[str]]:
    return {t.name: row_hashes(conn, t, org) for t in tables}


def verify_both(source: psycopg.Connection, target: psycopg.Connection, tables: list[Table], org: uuid.UUID,
                say: Say) -> None:
    """MoveError naming the first table that differs; nothing is switched then.

    Each connection is used by one thread only, and by nothing else until this returns.
    """
    for conn in (source, target):
        stable_output(conn)
    in_source, in_target = _both(source, target, lambda conn: fingerprints(conn, tables, org))
    unequal = [t for t in tables if t.append_only and in_source[t.name] != in_target[t.name]]
    rows_source, rows_target = _both(source, target, lambda conn: _hashes(conn, unequal, org)) if unequal \
        else ({}, {})
    for table in tables:
        mine, theirs = in_source[table.name], in_target[table.name]
        if table.name in rows_source:
            absent = rows_source[table.name] - rows_target[table.name]
            if absent:
                raise MoveError(f"{table.name}: {len(absent)} rows of the source are missing in the target;"
                                " nothing was switched")
            say(f"verified {table.name}: {mine[0]} rows, all in the target (which has {theirs[0]})")
        elif mine != theirs:
            raise MoveError(f"{table.name}: the source has {mine[0]} rows (fingerprint {digest(mine)}), the target"
                            f" {theirs[0]} ({digest(theirs)}); nothing was switched")
        else:
            say(f"verified {table.name}: {mine[0]} rows, fingerprint {digest(mine)}")
