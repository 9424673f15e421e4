"""Running pgbackrest: found on PATH, run as the data directory's owner when we are root, JSON info parsed.

pgBackRest reads the cluster's files, so it runs as their owner (as PostgreSQL's
archive_command does); a root operator's `atlas backup` switches to that user
with runuser, as the PostgreSQL packages' own scripts do.
"""
from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from app.errors.operations import BackupError

INSTALL_HINT = "install pgBackRest on this host (Debian: apt-get install pgbackrest; https://pgbackrest.org)"


def binary() -> str:
    found = shutil.which("pgbackrest")
    if found is None:
        raise BackupError(f"pgbackrest is not on PATH: {INSTALL_HINT}, then rerun")
    return found


def as_owner(argv: list[str], owner: str) -> list[str]:
    """argv run as `owner` (PostgreSQL's OS user) when we are root; as ourselves otherwise."""
    if os.geteuid() == 0 and owner != "root":
        return ["runuser", "-u", owner, "--", *argv]
    return argv


def owner_of(path: str | Path) -> str:
    try:
        return pwd.getpwuid(os.stat(path).st_uid).pw_name
    except FileNotFoundError:
        raise BackupError(f"{path} does not exist on this host: run atlas backup on the database server,"
                          " or give pgBackRest a pg1-host in ATLAS_BACKUP_CONFIG") from None
    except KeyError:
        return str(os.stat(path).st_uid)


def run(config: Path, stanza: str, command: str, *options: str, owner: str,
        timeout_s: float = 3600) -> subprocess.CompletedProcess[str]:
    """`pgbackrest --config=C --stanza=S [options] command`; BackupError with its own words on failure."""
    argv = as_owner([binary(), f"--config={config}", f"--stanza={stanza}", *options, command], owner)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise BackupError(f"pgbackrest {command} ({stanza}) did not finish in {timeout_s:.0f} s") from None
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip())[-1500:]
        raise BackupError(f"pgbackrest {command} failed for stanza {stanza} (exit {done.returncode}): {said}")
    return done


@dataclass(frozen=True)
class Backup:
    label: str
    kind: str  # full, diff, incr
    started: datetime
    stopped: datetime  # the earliest time it can be restored to
    size_bytes: int


@dataclass(frozen=True)
class StanzaInfo:
    stanza: str
    status: str
    backups: tuple[Backup, ...]
    wal_min: str | None
    wal_max: str | None

    @property
    def oldest_restorable(self) -> datetime | None:
        return min((b.stopped for b in self.backups), default=None)


def info(config: Path, stanza: str, *, owner: str) -> StanzaInfo:
    done = run(config, stanza, "info", "--output=json", owner=owner, timeout_s=120)
    try:
        entry = json.loads(done.stdout)[0]
        backups = tuple(
            Backup(b["label"], b["type"], datetime.fromtimestamp(b["timestamp"]["start"], UTC),
                   datetime.fromtimestamp(b["timestamp"]["stop"], UTC), int(b["info"]["size"]))
            for b in entry.get("backup", []) if not b.get("error"))
        archives = entry.get("archive") or [{}]
        return StanzaInfo(stanza, entry["status"]["message"], backups, archives[-1].get("min"),
                          archives[-1].get("max"))
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise BackupError(f"pgbackrest info gave output Atlas cannot read ({exc}): is pgBackRest >= 2.30?") from None
