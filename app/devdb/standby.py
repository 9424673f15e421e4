"""A primary and its hot standby, private to a test module: `pg_basebackup -R` of a Cluster, streaming.

The primary is a `Cluster` of its own (wal_level replica and wal senders are PostgreSQL's defaults;
initdb --auth=trust lets 127.0.0.1 replicate); the standby is a base backup of it, written with
primary_conninfo and standby.signal (-R), started on a port of its own. Start-up takes a few seconds,
so a module starts one pair. `replayed` waits until the standby has replayed everything the primary
wrote; `pause` / `resume` stop and restart replay (pg_wal_replay_pause) to make lag on purpose.
"""
from __future__ import annotations

import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from app.db.connect import open_connection
from app.devdb.server import FAST, Cluster, as_pg_user, own_dir

OPTIONS = FAST + " -c max_wal_senders=4 -c hot_standby=on -c hot_standby_feedback=on -c max_standby_streaming_delay=5s"


@dataclass
class Pair:
    primary: Cluster
    standby: Cluster

    def on_standby(self, url: str) -> str:
        """The same conninfo (database, user) on the standby."""
        assert int(str(conninfo_to_dict(url)["port"])) == self.primary.port
        return make_conninfo(url, port=str(self.standby.port))

    def replayed(self, *, timeout_s: float = 30.0) -> None:
        """Wait until the standby has replayed every WAL record the primary has written so far."""
        with open_connection("devdb.standby", self.primary.admin_url, autocommit=True) as conn:
            target = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]  # type: ignore[index]
        deadline = time.monotonic() + timeout_s
        with open_connection("devdb.standby", self.standby.admin_url, autocommit=True) as conn:
            while True:
                done = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)).fetchone()
                if done and done[0]:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the standby did not replay up to {target} within {timeout_s} s")
                time.sleep(0.02)

    def pause(self) -> None:
        with open_connection("devdb.standby", self.standby.admin_url, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
            while conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone() != ("paused",):
                time.sleep(0.02)

    def resume(self) -> None:
        with open_connection("devdb.standby", self.standby.admin_url, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")

    def remove(self) -> None:
        self.standby.remove()
        self.primary.remove()


def start_pair() -> Pair:
    """A started primary and a started hot standby streaming from it."""
    primary = Cluster(options=OPTIONS)
    try:
        primary.start()
        base = own_dir(Path(tempfile.mkdtemp(prefix="atlas-pg-standby-")))
        done = subprocess.run(
            as_pg_user([str(primary.bindir / "pg_basebackup"), "-D", str(base / "data"), "-h", "127.0.0.1",
                        "-p", str(primary.port), "-U", "postgres", "-R", "-X", "stream", "-c", "fast",
                        "--no-sync"]),
            capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"pg_basebackup failed: {done.stderr}")
        standby = Cluster(bindir=primary.bindir, base=base, options=OPTIONS)
        standby.start()
    except BaseException:
        primary.remove()
        raise
    return Pair(primary, standby)
