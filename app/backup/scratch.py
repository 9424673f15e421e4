"""A backup restored to a scratch cluster at time T: in a temporary directory, on a free port, then removed.

pgBackRest restores the stanza's latest backup taken before T (`--type=time`)
and replays archived WAL up to T; the cluster then promotes itself
(`--target-action=promote`). It is started with archiving off, listening on a
Unix socket in its own directory only, with its own pg_hba.conf (local trust),
so nothing outside this process reaches it and it never writes to the
repository. Hot standby is off: the first connection that succeeds is to the
promoted cluster at T.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from app.backup import pgbackrest
from app.backup.clusters import ClusterFacts
from app.backup.config import BackupConfig
from app.db.connect import open_connection
from app.errors.operations import BackupError, RestoreError


def restorable(config: BackupConfig, cluster: ClusterFacts, to_time: datetime) -> None:
    """RestoreError unless a backup of the cluster ends before `to_time` and `to_time` is past."""
    if to_time.tzinfo is None:
        raise RestoreError("--to-time needs a time zone (2026-12-07T09:14:00Z or +01:00)")
    if to_time >= datetime.now(UTC):
        raise RestoreError(f"--to-time {to_time.isoformat()} is not in the past")
    found = pgbackrest.info(config.config_path, cluster.stanza, owner=cluster.owner)
    oldest = found.oldest_restorable
    if oldest is None:
        raise RestoreError(f"stanza {cluster.stanza} has no backup: run atlas backup run (restores reach back"
                           " to the oldest backup)")
    if to_time < oldest:
        raise RestoreError(f"--to-time {to_time.isoformat()} is before the oldest backup's end ({oldest.isoformat()}):"
                           " give a later time (atlas backup list shows the range)")


def _bindir(config: BackupConfig, cluster: ClusterFacts) -> Path:
    bindir = Path(config.pg_bindir or f"/usr/lib/postgresql/{cluster.major}/bin")
    if not (bindir / "pg_ctl").exists():
        raise BackupError(f"no pg_ctl in {bindir}: set ATLAS_PG_BINDIR to PostgreSQL {cluster.major}'s binaries")
    return bindir


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def restored(config: BackupConfig, cluster: ClusterFacts, to_time: datetime, *, dbname: str,
             timeout_s: float = 3600) -> Iterator[str]:
    """Yield a superuser conninfo (no dbname) to the cluster as it was at `to_time`; removed afterwards.

    The whole cluster is restored. pgBackRest's `--db-include=dbname` (other databases as zeroed files)
    would cost one database instead, but WAL replay then fails on those files now and again ("WAL
    contains references to invalid pages": a visibility-map record without a full-page image), so
    `dbname` only names the database the caller will read.
    """
    bindir = _bindir(config, cluster)
    owner = cluster.owner
    base = Path(tempfile.mkdtemp(prefix="atlas-restore-", dir=config.scratch_dir or None))
    if os.geteuid() == 0:
        shutil.chown(base, user=owner, group=None)
    data, port, log = base / "data", _free_port(), base / "postgresql.log"
    started = False
    try:
        pgbackrest.run(config.config_path, cluster.stanza, "restore", f"--pg1-path={data}", "--type=time",
                       f"--target={to_time.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}+00", "--target-action=promote",
                       "--archive-mode=off", owner=owner, timeout_s=timeout_s)
        hba = base / "pg_hba.conf"
        hba.write_text("local all all trust\n")
        (data / "postgresql.conf").touch()  # Debian keeps it in /etc: the backup may have none
        if os.geteuid() == 0:
            shutil.chown(hba, user=owner, group=None)
            shutil.chown(data / "postgresql.conf", user=owner, group=None)
        options = (f"-p {port} -k {base} -c listen_addresses='' -c archive_mode=off -c hot_standby=off"
                   f" -c hba_file={hba} -c max_connections=20")
        subprocess.run(pgbackrest.as_owner([str(bindir / "pg_ctl"), "start", "-D", str(data), "-l", str(log),
                                            "-W", "-o", options], owner), capture_output=True, check=True,
                       timeout=60)
        started = True
        url = make_conninfo("", host=str(base), port=port, user="postgres", dbname="postgres")
        _wait_promoted(url, data, log, timeout_s)
        yield make_conninfo("", host=str(base), port=port)
    except subprocess.CalledProcessError as exc:
        raise BackupError(f"the scratch cluster did not start: {exc.stderr!r} {_tail(log)}") from None
    finally:
        if started:
            subprocess.run(pgbackrest.as_owner([str(bindir / "pg_ctl"), "stop", "-D", str(data), "-m", "immediate",
                                                "-w"], owner), capture_output=True, check=False, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-1500:] if log.exists() else ""


def _wait_promoted(url: str, data: Path, log: Path, timeout_s: float) -> None:
    deadline, appeared = time.monotonic() + timeout_s, time.monotonic() + 30
    while not (data / "postmaster.pid").exists() and time.monotonic() < appeared:
        time.sleep(0.1)  # pg_ctl -W returns before the postmaster writes its pid file
    while time.monotonic() < deadline:
        try:
            with open_connection("backup.scratch", url, connect_timeout=5, autocommit=True) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                if row is not None and not row[0]:
                    return
        except psycopg.OperationalError:
            if not (data / "postmaster.pid").exists():  # recovery failed: the server has stopped
                raise RestoreError(f"recovery to the target time failed: {_tail(log)}") from None
        time.sleep(0.3)
    raise RestoreError(f"recovery did not finish in {timeout_s:.0f} s: {_tail(log)}")
