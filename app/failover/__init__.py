"""Failover: Atlas on a primary and its synchronous standby, behind one multi-host DATABASE_URL.

A URL naming every node (`postgresql://a:5432,b:5432/atlas?target_session_attrs=read-write`, or
`host=a,b port=5432,5432 ... target_session_attrs=read-write`) is kept whole wherever Atlas derives
another URL from it (its roles' URLs, the worker's, the per-org pools', placement's); libpq then
connects to whichever node accepts writes, so every pool reconnects to the new primary on its own
after a failover. `servers` lists the nodes such a URL names. docs/operations.md "Failover" is the
runbook; tests/test_failover.py loses the primary under writes.
"""
from __future__ import annotations

from app.failover.servers import describe, servers

__all__ = ["describe", "servers"]
