"""Where a benchmark's CPU goes: the app server's processes against the database's backends.

A throughput ratio says how much slower one endpoint is, not why. Sampled
around each round, these counters say how many microseconds of CPU each
request cost in the server (the HTTP server's master and workers) and in PostgreSQL
(the backends connected to the benchmark's database), so a ratio can be
read as "this much Python, this much SQL". Linux /proc only, and only for a
server on this machine; elsewhere `sample` returns None and nothing is shown.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import psycopg

_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process, 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


@dataclass(frozen=True)
class CpuSample:
    app: dict[int, float]  # CPU seconds of the server process and its children (its workers)
    database: dict[int, float]  # CPU seconds of each backend connected to the database

    def since(self, earlier: CpuSample) -> tuple[float, float]:
        """(app, database) CPU seconds spent between the two samples (a process new since then: all of it)."""
        return _spent(self.app, earlier.app), _spent(self.database, earlier.database)


def _spent(now: dict[int, float], before: dict[int, float]) -> float:
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in now.items())


class CpuSampler:
    """Samples one server process tree and the backends of one database (through an admin connection)."""

    def __init__(self, server_pid: int, admin_url: str, database: str) -> None:
        self.server_pid = server_pid
        self.database = database
        self.conn = psycopg.connect(admin_url, autocommit=True) if os.path.exists(f"/proc/{server_pid}/stat") else None

    def sample(self) -> CpuSample | None:
        if self.conn is None:
            return None
        pids = [pid for (pid,) in self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (self.database,))]
        if pids and not os.path.exists(f"/proc/{pids[0]}/stat"):
            self.close()  # the database runs on another machine (or in another PID namespace)
            return None
        app = (self.server_pid, *_children(self.server_pid))
        return CpuSample({pid: _cpu_s(pid) for pid in app}, {pid: _cpu_s(pid) for pid in pids})

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
