"""`atlas backup setup|run|list|check`: the same pgBackRest work for every cluster Atlas uses."""
from __future__ import annotations

import configparser
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from psycopg import sql

from app.backup import pgbackrest
from app.backup.clusters import ClusterFacts, every_cluster
from app.backup.config import BackupConfig
from app.db.connect import open_connection
from app.errors.operations import BackupError

Say = Callable[[str], None]
BACKUP_TYPES = ("full", "diff", "incr")
# A new config's [global]: fast checkpoints for a backup, lz4 (quick), two full backups kept.
GLOBAL_DEFAULTS = {"repo1-retention-full": "2", "start-fast": "y", "compress-type": "lz4",
                   "log-level-console": "warn", "log-level-file": "off"}


def archive_command(config: BackupConfig, cluster: ClusterFacts) -> str:
    return f"{pgbackrest.binary()} --config={config.config_path} --stanza={cluster.stanza} archive-push %p"


def required_settings(config: BackupConfig, cluster: ClusterFacts) -> dict[str, str]:
    """What the cluster's postgresql.conf must say for continuous archiving into the stanza."""
    return {"archive_mode": "on", "archive_command": archive_command(config, cluster),
            "wal_level": "replica" if cluster.wal_level == "minimal" else cluster.wal_level}


def _read(config: BackupConfig) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # pgBackRest keys are case-sensitive
    if config.config_path.exists():
        try:
            parser.read(config.config_path)
        except configparser.Error as exc:
            raise BackupError(f"ATLAS_BACKUP_CONFIG {config.config_path} is not a pgBackRest config: {exc}") from None
    return parser


def write_config(config: BackupConfig, clusters: list[ClusterFacts]) -> None:
    """Add or refresh each cluster's stanza; a new file gets a [global] with the repository."""
    parser = _read(config)
    if not parser.has_section("global"):
        parser["global"] = {"repo1-path": config.repo, **GLOBAL_DEFAULTS}
    for cluster in clusters:
        parser[cluster.stanza] = {"pg1-path": cluster.data_dir, "pg1-port": str(cluster.port),
                                  "pg1-socket-path": cluster.socket_dir}
    config.config_path.parent.mkdir(parents=True, exist_ok=True)
    with config.config_path.open("w") as out:
        parser.write(out, space_around_delimiters=False)
    config.config_path.chmod(0o644)  # archive_command reads it as PostgreSQL's user


def _repo_path(config: BackupConfig) -> Path | None:
    parser = _read(config)
    value = parser.get("global", "repo1-path", fallback=None)
    kind = parser.get("global", "repo1-type", fallback="posix")
    return Path(value) if value and kind == "posix" else None


def _prepare_repo(config: BackupConfig, owner: str) -> None:
    repo = _repo_path(config)
    if repo is None or repo.exists():
        return
    repo.mkdir(parents=True, mode=0o750)
    if os.geteuid() == 0:
        shutil.chown(repo, user=owner, group=None)


def _set(cluster: ClusterFacts, values: dict[str, str]) -> list[str]:
    """ALTER SYSTEM what differs; returns the settings that wait for a restart."""
    restart = []
    with open_connection("backup.commands", cluster.databases[0], autocommit=True) as conn:
        for name, value in values.items():
            current = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
            if current is not None and current[0] == value:
                continue
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
            if name != "archive_command":  # the others take effect at a restart
                restart.append(name)
        conn.execute("SELECT pg_reload_conf()")
    return restart


def setup(settings_db: str, config: BackupConfig, *, apply: bool, say: Say) -> None:
    clusters = every_cluster(settings_db)
    write_config(config, clusters)
    say(f"wrote {config.config_path} ({len(clusters)} stanza(s))")
    for cluster in clusters:
        _prepare_repo(config, cluster.owner)
        pgbackrest.run(config.config_path, cluster.stanza, "stanza-create", owner=cluster.owner)
        wanted = required_settings(config, cluster)
        say(f"stanza {cluster.stanza}: cluster {cluster.data_dir} (port {cluster.port})")
        if apply:
            restart = _set(cluster, wanted)
            say("  archive_command set (reloaded)" + (
                f"; restart PostgreSQL for {', '.join(restart)} to take effect" if restart else ""))
        else:
            say("  set in its postgresql.conf, then restart PostgreSQL (archive_mode, wal_level need it):")
            for name, value in wanted.items():
                say(f"    {name} = '{value}'")


def _clusters_checked(settings_db: str, config: BackupConfig) -> list[ClusterFacts]:
    if not config.config_path.exists():
        raise BackupError(f"no pgBackRest config at {config.config_path} (ATLAS_BACKUP_CONFIG): run atlas backup setup")
    clusters = every_cluster(settings_db)
    parser = _read(config)
    for cluster in clusters:
        if not parser.has_section(cluster.stanza):
            raise BackupError(f"{config.config_path} has no stanza {cluster.stanza} for the cluster at"
                              f" {cluster.data_dir} (a new dedicated database?): run atlas backup setup")
    return clusters


def check(settings_db: str, config: BackupConfig, *, say: Say) -> None:
    """Archiving works now: the settings are Atlas's, and a WAL switch reaches the repository."""
    for cluster in _clusters_checked(settings_db, config):
        for name, value in required_settings(config, cluster).items():
            current = {"archive_mode": cluster.archive_mode, "archive_command": cluster.archive_command,
                       "wal_level": cluster.wal_level, "full_page_writes": cluster.full_page_writes}[name]
            if current != value and not (name == "archive_mode" and current == "always"):
                raise BackupError(f"cluster {cluster.data_dir}: {name} is {current!r}, must be {value!r}:"
                                  " set it in postgresql.conf (or run atlas backup setup --apply) and restart")
        started = time.monotonic()
        pgbackrest.run(config.config_path, cluster.stanza, "check", owner=cluster.owner, timeout_s=300)
        say(f"stanza {cluster.stanza}: WAL archiving works ({time.monotonic() - started:.1f} s)")


def run_backup(settings_db: str, config: BackupConfig, *, kind: str, say: Say) -> None:
    if kind not in BACKUP_TYPES:
        raise BackupError(f"--type must be one of {', '.join(BACKUP_TYPES)}, not {kind!r}")
    for cluster in _clusters_checked(settings_db, config):
        started = time.monotonic()
        pgbackrest.run(config.config_path, cluster.stanza, "backup", f"--type={kind}", owner=cluster.owner)
        say(f"stanza {cluster.stanza}: {kind} backup done in {time.monotonic() - started:.1f} s")


def list_backups(settings_db: str, config: BackupConfig, *, say: Say) -> None:
    for cluster in _clusters_checked(settings_db, config):
        found = pgbackrest.info(config.config_path, cluster.stanza, owner=cluster.owner)
        say(f"stanza {cluster.stanza} ({cluster.data_dir}): {found.status}")
        for b in found.backups:
            say(f"  {b.label}  {b.kind:4}  {b.started:%Y-%m-%d %H:%M:%S}Z .. {b.stopped:%Y-%m-%d %H:%M:%S}Z"
                f"  {b.size_bytes / 1e6:.1f} MB")
        oldest = found.oldest_restorable
        say(f"  restorable from {oldest:%Y-%m-%d %H:%M:%S}Z to the last archived WAL ({found.wal_max})"
            if oldest else "  no backup yet: run atlas backup run")
