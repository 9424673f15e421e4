"""The PostgreSQL clusters behind Atlas's databases, one stanza each.

The shared database's cluster, and the cluster of every dedicated database an
org is placed in (org_placements), read as the shared database's admin; two
databases on one cluster share its stanza (WAL is per cluster).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import psycopg
from psycopg.conninfo import conninfo_to_dict

from app.backup.pgbackrest import owner_of
from app.db.connect import open_connection
from app.errors.operations import BackupError
from app.placement.locations import placed_locations, role_conninfo


@dataclass(frozen=True)
class ClusterFacts:
    stanza: str
    system_id: int
    data_dir: str
    port: int
    socket_dir: str
    major: int
    archive_mode: str
    archive_command: str
    wal_level: str
    full_page_writes: str
    databases: tuple[str, ...] = field(default=())  # admin URLs of Atlas's databases on it

    @property
    def owner(self) -> str:
        return owner_of(self.data_dir)


def stanza_of(system_id: int) -> str:
    return f"atlas-{system_id}"


def facts(admin_url: str) -> ClusterFacts:
    """What pgBackRest needs to know of the cluster `admin_url` reaches (a superuser's connection)."""
    try:
        with open_connection("backup.clusters", admin_url, autocommit=True, connect_timeout=10) as conn:
            row = conn.execute(
                "SELECT (SELECT system_identifier FROM pg_control_system()), current_setting('data_directory'),"
                " current_setting('port')::int, split_part(current_setting('unix_socket_directories'), ',', 1),"
                " current_setting('server_version_num')::int / 10000, current_setting('archive_mode'),"
                " current_setting('archive_command'), current_setting('wal_level'),"
                " current_setting('full_page_writes')").fetchone()
    except psycopg.errors.InsufficientPrivilege:
        raise BackupError("DATABASE_URL must be a superuser's (it reads data_directory and sets archive_command)") \
            from None
    except psycopg.OperationalError as exc:
        where = conninfo_to_dict(admin_url).get("host", "localhost")
        raise BackupError(f"cannot reach the database at {where}: {exc}") from None
    assert row is not None
    system_id, data_dir, port, socket_dir, major, mode, command, wal_level, full_page_writes = row
    return ClusterFacts(stanza_of(int(system_id)), int(system_id), data_dir, int(port),
                        str(socket_dir).strip() or "/tmp", int(major), mode, command, wal_level, full_page_writes, (admin_url,))


def every_cluster(database_url: str) -> list[ClusterFacts]:
    """The shared database's cluster first, then each other cluster holding a dedicated database."""
    found: dict[int, ClusterFacts] = {}
    for url in [database_url, *(role_conninfo(database_url, loc) for loc in placed_locations(database_url))]:
        cluster = facts(url)
        known = found.get(cluster.system_id)
        if known is None:
            found[cluster.system_id] = cluster
        else:
            found[cluster.system_id] = replace(known, databases=(*known.databases, url))
    return list(found.values())
