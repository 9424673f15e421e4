"""A pg_auto_failover formation for the failover tests: a monitor, a primary and a synchronous secondary.

Debian's `postgresql-15-auto-failover` (installed with apt-get when missing, as tests/support/pgbouncer.py
does for PgBouncer) runs three clusters of their own on free ports in one temporary folder, each under
its own `pg_autoctl run` (a keeper that starts, restarts, promotes and demotes its PostgreSQL), as the
non-root server user (app/devdb/server.py). pg_autoctl's configuration and state go to that folder
too (XDG_CONFIG_HOME, XDG_DATA_HOME), so `remove()` leaves nothing behind.

The monitor's health checks are tightened (a check a second, a node unhealthy after 2 s, the old primary
given 2 s to demote itself) so that a lost primary is replaced in a few seconds, not pg_auto_failover's
default of about 30. The data nodes keep its defaults: `synchronous_standby_names = 'ANY 1 (...)'` while a
secondary is healthy, `synchronous_commit = on`, so a commit is acknowledged once the secondary has it.
fsync is off on every node, as on the other test clusters: processes die here, the machine does not.

`lose(node)` is the fault: SIGKILL of the node's keeper (so nothing restarts its server) and of its
postmaster, at once; its backends end on their own when they notice the postmaster is gone.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from app.devdb.choice import forced_path
from app.devdb.ports import free_port
from app.devdb.server import as_pg_user, own_dir

PACKAGE = "postgresql-15-auto-failover"
BINDIR = Path("/usr/lib/postgresql/15/bin")
FORMATION_DBNAME = "atlas_ha"
# pgautofailover.* settings of the monitor (milliseconds): fast detection, a short demotion wait.
MONITOR_SETTINGS = {
    "pgautofailover.health_check_period": "1000",
    "pgautofailover.health_check_timeout": "1000",
    "pgautofailover.health_check_max_retries": "1",
    "pgautofailover.health_check_retry_delay": "500",
    "pgautofailover.node_considered_unhealthy_timeout": "2000",
    "pgautofailover.primary_demote_timeout": "2000",
    "pgautofailover.startup_grace_period": "1000",
    "fsync": "off",
}


def unavailable() -> str | None:
    """Why no formation can run here, or None. pg_auto_failover needs the machine's PostgreSQL 15 (the
    embedded wheel has no pgautofailover extension): not when ATLAS_TEST_PG=embedded forces the wheel,
    nor where scripts/without_postgres.sh hides /usr/lib/postgresql (installed, but unseen)."""
    if forced_path() == "embedded":
        return "ATLAS_TEST_PG=embedded: pg_auto_failover runs on the machine's PostgreSQL 15 only"
    hidden = Path("/usr/lib/postgresql")
    if shutil.which("pg_autoctl") and hidden.is_dir() and not any(hidden.iterdir()):
        return "the machine's PostgreSQL is hidden (scripts/without_postgres.sh): no pg_auto_failover formation"
    return None


def ensure_installed() -> str:
    """The pg_autoctl binary, installed with apt-get (waiting for other installs' lock) if missing."""
    found = shutil.which("pg_autoctl")
    if found and (BINDIR / "pg_ctl").exists():
        return found
    if os.geteuid() != 0:
        raise RuntimeError(f"pg_auto_failover is not installed and this is not root: apt-get install {PACKAGE}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=600"]
    if subprocess.run([*apt, "install", "-y", "--no-install-recommends", PACKAGE], env=env,
                      capture_output=True).returncode != 0:
        subprocess.run([*apt, "update"], env=env, capture_output=True, check=True)
        subprocess.run([*apt, "install", "-y", "--no-install-recommends", PACKAGE], env=env,
                       capture_output=True, check=True)
    found = shutil.which("pg_autoctl")
    if not found:
        raise RuntimeError(f"{PACKAGE} installed no pg_autoctl")
    return found


@dataclass
class Node:
    """One cluster of the formation and the `pg_autoctl run` that keeps it."""

    name: str
    port: int
    pgdata: Path
    keeper: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    lost: bool = False  # killed by Formation.lose
    ipc: list[tuple[str, int]] = field(default_factory=list)  # SysV objects a SIGKILL left: ("-s"|"-m", id)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{FORMATION_DBNAME}?sslmode=disable"

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None


@dataclass
class Formation:
    """A monitor and two data nodes; `start()` returns when node1 is primary and node2 its secondary."""

    base: Path = field(default_factory=lambda: own_dir(Path(tempfile.mkdtemp(prefix="atlas-ha-"))))
    monitor: Node = field(init=False)
    nodes: list[Node] = field(init=False)
    started_s: float = 0.0  # how long start() took

    def __post_init__(self) -> None:
        self.pg_autoctl = ensure_installed()
        for sub in ("config", "share", "run"):
            own_dir(self.base / sub)
        self.monitor = Node("monitor", free_port(), self.base / "monitor")
        self.nodes = [Node(name, free_port(), self.base / name) for name in ("node1", "node2")]

    # ----- the environment pg_autoctl runs in -------------------------------------------------------
    @property
    def monitor_url(self) -> str:
        return f"postgresql://autoctl_node@127.0.0.1:{self.monitor.port}/pg_auto_failover?sslmode=disable"

    def _env(self) -> dict[str, str]:
        return {**os.environ, "XDG_CONFIG_HOME": str(self.base / "config"), "XDG_DATA_HOME": str(self.base / "share"),
                "XDG_RUNTIME_DIR": str(self.base / "run"), "PG_CONFIG": str(BINDIR / "pg_config"),
                "PATH": f"{BINDIR}:{os.environ.get('PATH', '')}", "PGCONNECT_TIMEOUT": "2"}

    def _ctl(self, *args: str, timeout_s: float = 120) -> str:
        done = subprocess.run(as_pg_user([self.pg_autoctl, *args]), env=self._env(), capture_output=True,
                              text=True, timeout=timeout_s, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"pg_autoctl {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return done.stdout

    def _run_keeper(self, node: Node, *argv: str) -> None:
        """`pg_autoctl ...` in a process group of its own (the keeper, its services and its postmaster)."""
        node.log = self.base / f"{node.name}.log"
        with node.log.open("ab") as out:
            node.keeper = subprocess.Popen(as_pg_user([self.pg_autoctl, *argv]), env=self._env(), stdout=out,
                                           stderr=subprocess.STDOUT, start_new_session=True)

    # ----- start -----------------------------------------------------------------------------------
    def start(self) -> float:
        started = time.monotonic()
        try:
            self._start_monitor()
            common = ("--hostname", "127.0.0.1", "--listen", "127.0.0.1", "--auth", "trust", "--no-ssl",
                      "--dbname", FORMATION_DBNAME, "--monitor", self.monitor_url, "--pgctl", str(BINDIR / "pg_ctl"))
            first, second = self.nodes
            self._run_keeper(first, "create", "postgres", "--pgdata", str(first.pgdata), "--pgport", str(first.port),
                             "--name", first.name, *common, "--run")
            self.wait_for(lambda: self.states().get(first.name) == ("single", "single"), what="node1 single")
            with psycopg.connect(first.admin_url, autocommit=True) as conn:  # copied to node2 by its base backup
                conn.execute("ALTER SYSTEM SET fsync = off")
                # pg_basebackup's spread checkpoint would pace CREATE DATABASE's dirty pages over minutes
                conn.execute("ALTER SYSTEM SET checkpoint_completion_target = 0")
                conn.execute("SELECT pg_reload_conf()")
                conn.execute("CHECKPOINT")
            self._run_keeper(second, "create", "postgres", "--pgdata", str(second.pgdata), "--pgport",
                             str(second.port), "--name", second.name, *common, "--run")
            self.wait_stable()
        except BaseException:
            self.remove()
            raise
        self.started_s = time.monotonic() - started
        return self.started_s

    def _start_monitor(self) -> None:
        monitor = self.monitor
        done = subprocess.run(as_pg_user([str(BINDIR / "initdb"), "-D", str(monitor.pgdata), "--auth=trust",
                                          "--username=postgres", "--no-sync", "--encoding=UTF8", "--locale=C.UTF-8"]),
                              capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"initdb of the monitor failed: {done.stderr}")
        with (monitor.pgdata / "postgresql.conf").open("a") as conf:
            conf.write("".join(f"{name} = {value}\n" for name, value in MONITOR_SETTINGS.items()))
        self._run_keeper(monitor, "create", "monitor", "--pgdata", str(monitor.pgdata), "--pgport", str(monitor.port),
                         "--hostname", "127.0.0.1", "--listen", "127.0.0.1", "--auth", "trust", "--no-ssl",
                         "--pgctl", str(BINDIR / "pg_ctl"), "--run")
        self.wait_for(lambda: self._answers(self.monitor_url, "SELECT 1 FROM pgautofailover.formation"),
                      what="the monitor")

    # ----- what the monitor says -----------------------------------------------------------------
    @staticmethod
    def _answers(url: str, query: str) -> bool:
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
                conn.execute(query)
                return True
        except psycopg.Error:
            return False

    def states(self) -> dict[str, tuple[str, str]]:
        """{node name: (reported state, assigned state)} as the monitor has them."""
        try:
            with psycopg.connect(self.monitor_url, autocommit=True, connect_timeout=2) as conn:
                rows = conn.execute("SELECT nodename, reportedstate::text, goalstate::text"
                                    " FROM pgautofailover.node").fetchall()
        except psycopg.Error:
            return {}
        return {str(name): (str(reported), str(goal)) for name, reported, goal in rows}

    def primary(self) -> Node:
        """The node whose server accepts writes now (asked of the servers, not of the monitor)."""
        for node in self.nodes:
            try:
                with psycopg.connect(node.admin_url, autocommit=True, connect_timeout=2) as conn:
                    if conn.execute("SELECT NOT pg_is_in_recovery()").fetchone() == (True,):
                        return node
            except psycopg.Error:
                continue
        raise LookupError("no node accepts writes")

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def wait_for(self, ready: Callable[[], bool], *, what: str, timeout_s: float = 90) -> float:
        """Poll `ready` until true; returns the seconds it took. Fails naming `what` and the keepers' logs."""
        started = time.monotonic()
        while not ready():
            for node in (self.monitor, *self.nodes):
                if not node.lost and node.keeper is not None and node.keeper.poll() not in (None, 0) \
                        and node.log is not None:
                    raise RuntimeError(f"{node.name}'s pg_autoctl exited while waiting for {what}:\n"
                                       f"{node.log.read_text(errors='replace')[-3000:]}")
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"{what} not reached within {timeout_s} s; states {self.states()}")
            time.sleep(0.1)
        return time.monotonic() - started

    def wait_stable(self, *, timeout_s: float = 90) -> None:
        """Until one node is primary and the other secondary, each in the state the monitor assigned."""
        def stable() -> bool:
            states = self.states()
            return sorted(states.values()) == [("primary", "primary"), ("secondary", "secondary")]

        self.wait_for(stable, what="a primary and a secondary", timeout_s=timeout_s)

    # ----- what a test does to it ------------------------------------------------------------------
    def url(self, *, user: str = "postgres") -> str:
        """The multi-host URL an application uses: both nodes, the writable one chosen at connect time."""
        hosts = ",".join(node.address for node in self.nodes)
        return f"postgresql://{user}@{hosts}/{FORMATION_DBNAME}?target_session_attrs=read-write&sslmode=disable"

    def switchover(self, *, timeout_s: float = 60) -> str:
        """`pg_autoctl perform switchover`: the planned promotion of the secondary; returns its output."""
        return self._ctl("perform", "switchover", "--monitor", self.monitor_url, "--wait", str(int(timeout_s)),
                         timeout_s=timeout_s + 30)

    def lose(self, node: Node) -> None:
        """The node is gone: SIGKILL of its keeper (nothing restarts the server) and of its postmaster."""
        postmaster = node.postmaster_pid()
        node.lost = True
        node.ipc = self._ipc_of(node)
        if node.keeper is not None:
            _signal_group(node.keeper, signal.SIGKILL)
        if postmaster is not None:
            try:
                os.kill(postmaster, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _ipc_of(self, node: Node) -> list[tuple[str, int]]:
        """The keeper's semaphore set (line 5 of its pid file) and the postmaster's shared memory segment
        (line 7 of postmaster.pid: key, id): what a clean stop removes and a SIGKILL leaves behind."""
        found: list[tuple[str, int]] = []
        keeper_pid = self.base / "run" / "pg_autoctl" / str(node.pgdata).lstrip("/") / "pg_autoctl.pid"
        for kind, path, line, column in (("-s", keeper_pid, 4, 0), ("-m", node.pgdata / "postmaster.pid", 6, 1)):
            try:
                found.append((kind, int(path.read_text().splitlines()[line].split()[column])))
            except (OSError, IndexError, ValueError):
                continue
        return found

    def remove(self) -> None:
        """Stop every keeper (SIGTERM: each stops its server), kill what is left of ours, delete the folder."""
        for node in (*self.nodes, self.monitor):
            if node.keeper is not None:
                _signal_group(node.keeper, signal.SIGTERM)
        for node in (*self.nodes, self.monitor):
            if node.keeper is not None:
                try:
                    node.keeper.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    _signal_group(node.keeper, signal.SIGKILL)
                    node.keeper.wait(timeout=5)
        _kill_processes_in(self.base)
        for node in self.nodes:
            for kind, ident in node.ipc:
                subprocess.run(["ipcrm", kind, str(ident)], capture_output=True, timeout=10, check=False)
        shutil.rmtree(self.base, ignore_errors=True)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def _kill_processes_in(base: Path) -> None:
    """SIGKILL every process whose working directory is under `base`: a killed postmaster's orphaned backends
    (PostgreSQL's processes work in their data directory), so nothing of the formation outlives it."""
    root = str(base.resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cwd == root or cwd.startswith(root + os.sep):
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except ProcessLookupError:
                pass
