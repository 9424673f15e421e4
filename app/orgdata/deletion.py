"""`atlas org delete ORG` marks an org; `atlas org purge` erases marked orgs whose grace period is over.

Mark (reversible with --cancel until the purge): the org's members and pending
invitations are set aside in atlas_meta.org_deletions (sql/133_org_deletions.sql),
so no session or API key reaches it; its sessions are revoked. Nothing else changes.

Purge, per org, in this order, each step safe to rerun:
  1. a dedicated database that holds no other org is dropped; else the org's rows there go
  2. in the shared database, in one transaction: every row of every table with org_id
     (found from the catalog; children first), the placement, the organizations row
  3. its query cache entries and every other Redis key naming it (ATLAS_CACHE_REDIS_URL)
  4. its semantic layer files ({ATLAS_SEMANTIC_ROOT}/.orgs/ORG)
  5. platform_audit: organization.purge, with the rows deleted per table (the org's own
     audit trail is its data and goes with it)
Users stay: they are people, who may belong to other orgs or sign up again.
"""
from __future__ import annotations

import shutil
import socket
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.json import Jsonb

from app.config import Settings
from app.db.connect import open_connection
from app.errors.operations import OrgDataError
from app.orgdata.operator import operator, who
from app.orgdata.tables import control_tables
from app.placement.locations import org_location, role_conninfo
from app.placement.mirror import remove as remove_mirror
from app.placement.tables import delete_rows, placed_tables

Say = Callable[[str], None]


def _admin(settings: Settings) -> psycopg.Connection:
    return open_connection("orgdata.deletion", settings.database.url, autocommit=True)


def mark(settings: Settings, org: uuid.UUID, *, grace_s: float) -> datetime:
    """Set the org's members and pending invitations aside; returns when it may be purged."""
    with _admin(settings) as conn, conn.transaction():
        if conn.execute("SELECT 1 FROM atlas_meta.org_deletions WHERE organization_id = %s", (org,)).fetchone():
            raise OrgDataError(f"org {org} is already marked for deletion: atlas org delete ORG --cancel undoes it,"
                               " atlas org purge erases it once its grace period is over")
        conn.execute("SET LOCAL session_replication_role = replica")  # no member-removal cascades: cancel undoes all
        members = conn.execute("SELECT coalesce(jsonb_agg(to_jsonb(m)), '[]') FROM members m WHERE org_id = %s",
                               (org,)).fetchone()
        invitations = conn.execute("SELECT coalesce(jsonb_agg(to_jsonb(i)), '[]') FROM invitations i"
                                   " WHERE org_id = %s AND status = 'pending'", (org,)).fetchone()
        assert members is not None and invitations is not None
        row = conn.execute(
            "INSERT INTO atlas_meta.org_deletions (organization_id, purge_after, requested_by, members, invitations)"
            " VALUES (%s, now() + make_interval(secs => %s), %s, %s, %s) RETURNING purge_after",
            (org, grace_s, f"{operator()}@{socket.gethostname()}", Jsonb(members[0]), Jsonb(invitations[0]))).fetchone()
        conn.execute("DELETE FROM invitations WHERE org_id = %s AND status = 'pending'", (org,))
        conn.execute("DELETE FROM members WHERE org_id = %s", (org,))
        conn.execute("UPDATE sessions SET revoked_at = now() WHERE active_org_id = %s AND revoked_at IS NULL", (org,))
        _platform_audit(conn, org, "organization.delete_requested", {"purge_after": row[0].isoformat() if row else None,
                                                                     "members": len(members[0])})
    assert row is not None
    return row[0]


def cancel(settings: Settings, org: uuid.UUID) -> int:
    """Put the members and invitations back; returns how many members."""
    with _admin(settings) as conn, conn.transaction():
        row = conn.execute("DELETE FROM atlas_meta.org_deletions WHERE organization_id = %s"
                           " RETURNING members, invitations", (org,)).fetchone()
        if row is None:
            raise OrgDataError(f"org {org} is not marked for deletion (or was purged already)")
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute("INSERT INTO members SELECT * FROM jsonb_populate_recordset(NULL::members, %s)", (Jsonb(row[0]),))
        conn.execute("INSERT INTO invitations SELECT * FROM jsonb_populate_recordset(NULL::invitations, %s)",
                     (Jsonb(row[1]),))
        _platform_audit(conn, org, "organization.delete_canceled", {"members": len(row[0])})
    return len(row[0])


def due(settings: Settings, *, now: datetime | None = None) -> list[uuid.UUID]:
    with _admin(settings) as conn:
        return [r[0] for r in conn.execute(
            "SELECT organization_id FROM atlas_meta.org_deletions WHERE purge_after <= coalesce(%s, now())"
            " ORDER BY purge_after", (now,))]


def pending(settings: Settings) -> list[tuple[uuid.UUID, datetime]]:
    with _admin(settings) as conn:
        return [(r[0], r[1]) for r in conn.execute(
            "SELECT organization_id, purge_after FROM atlas_meta.org_deletions ORDER BY purge_after")]


def purge(settings: Settings, org: uuid.UUID, *, say: Say) -> dict[str, int]:
    """Erase every row, key, file and database of a marked org whose grace is over; returns rows per table."""
    with _admin(settings) as conn:
        row = conn.execute("SELECT purge_after <= now(), purge_after FROM atlas_meta.org_deletions"
                           " WHERE organization_id = %s", (org,)).fetchone()
        moving = conn.execute("SELECT 1 FROM atlas_meta.org_moves WHERE organization_id = %s", (org,)).fetchone()
    if moving is not None:  # its replication slot would outlive it: `--abort` drops the slot and the copy
        raise OrgDataError(f"org {org} has an unfinished move: abort it (atlas org move ORG --abort) first")
    if row is None:
        raise OrgDataError(f"org {org} is not marked for deletion: run atlas org delete ORG first")
    if not row[0]:
        raise OrgDataError(f"org {org} may be purged from {row[1].isoformat()} (ATLAS_ORG_DELETE_GRACE_S)")
    counts: dict[str, int] = {}
    location = org_location(settings.database.url, org)
    if location is not None:
        counts.update(_purge_dedicated(settings, org, location, say))
    counts.update(_purge_shared(settings, org))
    keys = _purge_redis(settings, str(org))
    files = _purge_files(settings, str(org))
    with _admin(settings) as conn:
        _platform_audit(conn, org, "organization.purge", {"rows": counts, "redis_keys": keys, "files": files,
                                                          "dedicated_database": location})
    say(f"purged org {org}: {sum(counts.values())} rows in {len([c for c in counts.values() if c])} tables,"
        f" {keys} Redis keys, {files} semantic files" + (f", database {location} dropped" if location else ""))
    return counts


def _purge_dedicated(settings: Settings, org: uuid.UUID, location: str, say: Say) -> dict[str, int]:
    url = role_conninfo(settings.database.url, location)
    with _admin(settings) as conn:
        others = conn.execute("SELECT count(*) FROM org_placements WHERE location = %s AND organization_id <> %s",
                              (location, org)).fetchone()
    if others is not None and others[0] == 0:
        dbname = conninfo_to_dict(url).get("dbname")
        with open_connection("orgdata.deletion", make_conninfo(url, dbname="postgres"), autocommit=True) as server:
            server.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(dbname))))
        say(f"dropped the dedicated database {dbname}")
        return {}
    counts = {}
    with open_connection("orgdata.deletion", url, autocommit=True) as conn, conn.transaction():
        for table in reversed(placed_tables(conn, app_role=settings.database.roles.app)):
            counts[table.name] = delete_rows(conn, table, org)
        remove_mirror(conn, org)
    return counts


def _purge_shared(settings: Settings, org: uuid.UUID) -> dict[str, int]:
    counts: dict[str, int] = {}
    with _admin(settings) as conn, conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")  # children first, so no cascade is needed
        for table in reversed([*control_tables(conn), *placed_tables(conn, app_role=settings.database.roles.app)]):
            counts[table.name] = delete_rows(conn, table, org)
        conn.execute("UPDATE sessions SET active_org_id = NULL, revoked_at = coalesce(revoked_at, now())"
                     " WHERE active_org_id = %s", (org,))
        # The org's own rows are gone; for the organizations row the foreign keys' actions run again, so a
        # global table's reference to it (users.last_org_id, ON DELETE SET NULL) follows without a list here.
        conn.execute("SET LOCAL session_replication_role = origin")
        for statement in ("DELETE FROM org_placements WHERE organization_id = %s",
                          "DELETE FROM atlas_meta.org_moves WHERE organization_id = %s",
                          "DELETE FROM atlas_meta.org_away WHERE organization_id = %s",
                          "DELETE FROM atlas_meta.org_deletions WHERE organization_id = %s",
                          "DELETE FROM organizations WHERE id = %s"):
            conn.execute(statement, (org,))
        leftovers = _tables_naming(conn, org)
        if leftovers:
            raise OrgDataError(f"org {org}: rows remain in {', '.join(leftovers)} (a table Atlas does not know):"
                               " nothing was purged; report it")
    return counts


def _tables_naming(conn: psycopg.Connection, org: uuid.UUID) -> list[str]:
    """Every table whose uuid column named *org_id or organization_id holds the org's id (indexed: cheap),
    but platform_audit, the platform's own record."""
    found = []
    for schema, table, column in conn.execute(
            "SELECT n.nspname::text, c.relname::text, a.attname::text FROM pg_attribute a"
            " JOIN pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p')"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE a.atttypid = 'uuid'::regtype AND a.attnum > 0 AND NOT a.attisdropped"
            " AND (a.attname LIKE '%%org_id' OR a.attname = 'organization_id')"
            " AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND c.relname <> 'platform_audit'").fetchall():
        hit = conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {} = %s)").format(
            sql.Identifier(schema, table), sql.Identifier(column)), (org,)).fetchone()
        if hit and hit[0]:
            found.append(f"{schema}.{table}.{column}")
    return found


def _purge_redis(settings: Settings, org: str) -> int:
    cache = settings.cache
    if cache.backend != "redis":
        return 0
    import redis

    client = redis.Redis.from_url(cache.redis_url, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"*{org}*", count=1000))
        if keys:
            client.delete(*keys)
        client.srem(f"{cache.key_prefix}:orgs", org)
        return len(keys)
    except redis.RedisError as exc:
        raise OrgDataError(f"Redis at ATLAS_CACHE_REDIS_URL did not answer ({exc}): rerun atlas org purge") from None
    finally:
        client.close()


def _purge_files(settings: Settings, org: str) -> int:
    root = Path(settings.semantic.root) / ".orgs" / org
    if not root.exists():
        return 0
    count = sum(1 for p in root.rglob("*") if p.is_file())
    shutil.rmtree(root)
    return count


def _platform_audit(conn: psycopg.Connection, org: uuid.UUID, action: str, detail: dict[str, object]) -> None:
    conn.execute("INSERT INTO platform_audit (actor_user_id, action, target_org_id, detail)"
                 " VALUES (NULL, %s, %s, %s)", (action, org, Jsonb({**detail, **who()})))

