"""Every row an org owns, per table found in the catalog, as the hashes of its text (for whole-org comparisons)."""
from __future__ import annotations

import uuid

import psycopg
from psycopg import sql

from tests.support import catalog

USER_COLUMNS = ("id", "email", "name", "email_verified", "created_at", "updated_at")


def org_snapshot(admin_url: str, org: uuid.UUID, *, with_users: bool = False) -> dict[str, set[str]]:
    """Per tenant table (and the organizations row; the members' users, without password hashes, if asked)."""
    tables = catalog.tenant_tables(admin_url)
    with psycopg.connect(admin_url) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        rows = {t: {r[0] for r in conn.execute(sql.SQL("SELECT md5(t::text) FROM {} t WHERE org_id = %s").format(
            sql.Identifier(*t.split("."))), (org,))} for t in tables}
        rows["organizations"] = {r[0] for r in conn.execute(
            "SELECT md5(o::text) FROM organizations o WHERE id = %s", (org,))}
        if with_users:
            rows["users"] = {r[0] for r in conn.execute(sql.SQL(
                "SELECT md5(ROW({})::text) FROM users WHERE id IN (SELECT user_id FROM members WHERE org_id = %s)")
                .format(sql.SQL(", ").join(map(sql.Identifier, USER_COLUMNS))), (org,))}
    return rows
