"""The one builder of transaction-local settings: `SET LOCAL <name> = <value>`.

The org-scoped door (app/db/__init__.py), the one-round-trip reads (app/db/wire.py) and the
gateway's agent queries (app/gateway/execute.py) all scope a transaction with
these statements. SET takes no bind parameter, so the value is quoted as a
literal by psycopg.sql, never pasted into the text, and the name must be one
of SETTINGS: the ones the policies read (sql/020_policies.sql, sql/040_platform.sql)
and the limits put on an agent query. A transaction-local setting dies at
COMMIT or ROLLBACK, so a pooled connection carries none to its next user.
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping

from psycopg import sql

SETTINGS = frozenset({
    "app.org_id",  # the tenant: every policy reads it through app.current_org()
    "app.user_id",
    "app.session_token_hash",  # session lookup before any org is known
    "app.auth_email",  # sign-in and sign-up
    "app.sso_lookup",  # an SSO sign-in's provider id or email domain (sql/141_sso.sql)
    "app.platform_scope",  # the platform role's cross-org policies require it
    "statement_timeout",  # an agent query's limits
    "work_mem",
    "max_parallel_workers_per_gather",
})


def set_local(name: str, value: str | int) -> sql.Composed:
    """One `SET LOCAL`; raises ValueError for a name outside SETTINGS (names are never user input)."""
    if name not in SETTINGS:
        raise ValueError(f"{name!r} is not a scoped setting (app/db/scoped_settings.py SETTINGS)")
    return sql.SQL("SET LOCAL {} = {}").format(sql.SQL(name), sql.Literal(value))


def scoped_settings(values: Mapping[str, str | int]) -> list[sql.Composed]:
    """The `SET LOCAL` statements for `values`, in their order."""
    return [set_local(name, value) for name, value in values.items()]


def set_local_id(name: str, value: uuid.UUID) -> bytes:
    """`set_local(name, str(value))` as bytes for libpq, built without psycopg.sql (about 30 us less each time).

    The hot path scopes every transaction with an org (and a writer) id: with many orgs no cache
    holds them all. A UUID's text is 32 hex digits and 4 dashes, so quoting it is just the quotes;
    anything but a uuid.UUID raises TypeError (a string could carry a quote).
    """
    if name not in SETTINGS:
        raise ValueError(f"{name!r} is not a scoped setting (app/db/scoped_settings.py SETTINGS)")
    if type(value) is not uuid.UUID:
        raise TypeError(f"set_local_id takes a uuid.UUID, not {type(value).__name__}")
    return b"SET LOCAL %s = '%s'" % (name.encode(), str(value).encode())
