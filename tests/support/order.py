"""The order test files are handed to the xdist workers in: the longest first.

`make test` runs `-n 2 --dist loadfile --no-loadscope-reorder`: each worker takes the next file in
collection order when it is nearly done with its own. xdist's own order (its default, which
`--no-loadscope-reorder` turns off) is most tests first, and here the files that take longest are
scenarios with few tests (a backup and three restores, a failover, browsers): they came last, so one
worker ran the last of them while the other had nothing left. With the longest first, the run ends
on short files and both workers finish within seconds of each other (docs/testing.md, "Where the
time goes"). The other files follow in xdist's order, most tests first.

LONGEST is measured (per-file durations, `--durations` or junit times): a file missing from it is
not an error, only scheduled among the rest; a name that is no longer a file fails
tests/test_test_order.py.
"""
from __future__ import annotations

from collections import Counter

import pytest

# Every file that took 20 s or more alone (-n 0, the shared 2-core machine at load 3 to 12, 2026-12-08),
# longest first; the figures are in docs/testing.md.
LONGEST = (
    "test_openapi.py",  # a bounded schemathesis run over every operation
    "test_org_restore.py",  # a backup and three scratch-cluster restores
    "test_api_cross_org.py",
    "test_placement_logical.py",  # moves by logical replication (the lead's figure, ~95 s)
    "test_mcp.py",
    "test_policy_audit.py",
    "test_failover.py",  # a pg_auto_failover formation: a switchover, a lost primary
    "test_revocation.py",
    "test_org_delete.py",
    "test_permissions.py",
    "test_faults_database.py",
    "test_org_export.py",
    "test_cross_tenant_sql.py",
    "test_placement.py",
    "test_console_doors_browser.py",
    "test_faults_pipeline.py",
    "test_console_browser.py",
    "test_better_auth_client.py",
    "test_agent_replica.py",
    "test_scim.py",
    "test_fuzz_hostile.py",
    "test_console_admin_browser.py",
    "test_console_agent_browser.py",
    "test_jobs_worker.py",
    "test_redis_faults.py",
    "test_console_connections_browser.py",
    "test_import_order.py",
    "test_better_auth_security.py",
    "test_mcp_connections.py",
    "test_connection_environment.py",
    "test_gateway_attacks.py",
    "test_auth.py",
    "test_limits_shared.py",
    "test_placement_keys.py",
    "test_placement_live.py",
)


def file_of(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def longest_first(items: list[pytest.Item]) -> None:
    """Reorder `items` in place: whole files, LONGEST first, then the rest by number of tests (most first);
    the tests of a file keep their order."""
    counts = Counter(file_of(item) for item in items)
    rank = {name: n for n, name in enumerate(LONGEST)}

    def key(item: pytest.Item) -> tuple[int, int, str]:
        path = file_of(item)
        return rank.get(path.rsplit("/", 1)[-1], len(LONGEST)), -counts[path], path

    items.sort(key=key)  # stable: a file's tests stay in their order


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    longest_first(items)
