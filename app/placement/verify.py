"""Counts and checksums of an org's rows in the source and the target, read side by side.

With the org's writes held, the verification is most of the hold: reading both
databases at once (two sessions, one thread each) halves it, and each table is
read in one scan without a sort (`fingerprint`: a count and two sums of 64-bit
row hashes; the sorted MD5 `checksum` took 3x as long). Every table matches
exactly, but append-only tables, whose source rows must all be in the target.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg

from app.errors import MoveError
from app.placement.tables import Fingerprint, Table, digest, fingerprints, row_hashes, stable_output

Say = Callable[[str], None]
Reading = dict[str, Fingerprint | set[str]]


def _read(conn: psycopg.Connection, tables: list[Table], org: uuid.UUID) -> Reading:
    stable_output(conn)
    got: Reading = {t.name: row_hashes(conn, t, org) for t in tables if t.append_only}
    got.update(fingerprints(conn, [t for t in tables if not t.append_only], org))
    return got


def verify_both(source: psycopg.Connection, target: psycopg.Connection, tables: list[Table], org: uuid.UUID,
                say: Say) -> None:
    """MoveError naming the first table that differs; nothing is switched then.

    Each connection is used by one thread only, and by nothing else until this returns.
    """
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="atlas-verify") as pool:
        here, there = (pool.submit(_read, conn, tables, org) for conn in (source, target))
        in_source, in_target = here.result(), there.result()
    for table in tables:
        mine, theirs = in_source[table.name], in_target[table.name]
        if isinstance(mine, set) and isinstance(theirs, set):
            if mine - theirs:
                raise MoveError(f"{table.name}: {len(mine - theirs)} rows of the source are missing in the target")
            say(f"verified {table.name}: {len(mine)} rows, all in the target")
        elif mine != theirs:
            assert isinstance(mine, tuple) and isinstance(theirs, tuple)
            raise MoveError(f"{table.name}: the source has {mine[0]} rows (fingerprint {digest(mine)}), the target"
                            f" {theirs[0]} ({digest(theirs)}); nothing was switched")
        else:
            assert isinstance(mine, tuple)
            say(f"verified {table.name}: {mine[0]} rows, fingerprint {digest(mine)}")
