"""A private cluster that archives its WAL with pgBackRest, for backup and restore tests.

pgBackRest is Debian's package, installed with apt-get when missing (as
tests/support/pgbouncer.py installs PgBouncer). The cluster runs as the
non-root PostgreSQL user with archive_mode on; `atlas backup setup --apply`
sets its archive_command. The repository and the config live in the
cluster's own temporary folder, removed with it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.devdb.databases import DatabaseFactory
from app.devdb.server import DURABLE, Cluster, own_dir

# full_page_writes back on (DURABLE turns it off), as a production cluster has it.
ARCHIVING = f"{DURABLE} -c wal_level=replica -c archive_mode=on -c full_page_writes=on"


def ensure_pgbackrest() -> str:
    found = shutil.which("pgbackrest")
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError("pgbackrest is not installed and this is not root: apt-get install pgbackrest")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=600"]
    if subprocess.run([*apt, "install", "-y", "--no-install-recommends", "pgbackrest"], env=env,
                      capture_output=True).returncode != 0:
        subprocess.run([*apt, "update"], env=env, capture_output=True, check=True)
        subprocess.run([*apt, "install", "-y", "--no-install-recommends", "pgbackrest"], env=env,
                       capture_output=True, check=True)
    return shutil.which("pgbackrest") or "/usr/bin/pgbackrest"


@dataclass
class ArchivingCluster:
    cluster: Cluster
    factory: DatabaseFactory
    config: Path
    repo: Path

    def env(self) -> dict[str, str]:
        return {"ATLAS_BACKUP_CONFIG": str(self.config), "ATLAS_BACKUP_REPO": str(self.repo),
                "ATLAS_BACKUP_SCRATCH_DIR": str(own_dir(self.cluster.base / "scratch")),
                "ATLAS_PG_BINDIR": str(self.cluster.bindir)}


@contextmanager
def archiving_cluster() -> Iterator[ArchivingCluster]:
    ensure_pgbackrest()
    cluster = Cluster(options=ARCHIVING)
    cluster.start()
    factory = DatabaseFactory(cluster.server())
    factory.build_template()
    try:
        yield ArchivingCluster(cluster, factory, cluster.base / "pgbackrest" / "atlas.conf",
                               cluster.base / "repo")
    finally:
        try:
            factory.drop_all()
        finally:
            cluster.remove()
