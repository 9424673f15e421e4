"""PgBouncer for tests: Debian's package installed when missing, one bouncer per test module on a free port.

Transaction pooling, as production would run it in front of Atlas (docs/scaling.md).
PgBouncer refuses to run as root, so as root it is started as the `postgres` user
(present wherever the PostgreSQL server package is); its files live in a private
temporary directory that user can read.
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from app.devdb.ports import free_port

BINARY = "/usr/sbin/pgbouncer"


def ensure_installed() -> str:
    """The pgbouncer binary, installed with apt-get (waiting for other installs' lock) if missing."""
    found = shutil.which("pgbouncer") or (BINARY if os.path.exists(BINARY) else None)
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError("pgbouncer is not installed and this is not root: apt-get install pgbouncer")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=600"]
    if subprocess.run([*apt, "install", "-y", "--no-install-recommends", "pgbouncer"], env=env,
                      capture_output=True).returncode != 0:
        subprocess.run([*apt, "update"], env=env, capture_output=True, check=True)
        subprocess.run([*apt, "install", "-y", "--no-install-recommends", "pgbouncer"], env=env,
                       capture_output=True, check=True)
    return shutil.which("pgbouncer") or BINARY


@dataclass
class Bouncer:
    port: int
    process: subprocess.Popen[bytes]
    directory: Path

    def url(self, user: str, dbname: str) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # SIGINT: shut down at once
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        shutil.rmtree(self.directory, ignore_errors=True)

    def log(self) -> str:
        path = self.directory / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""


def start(*, host: str, port: int, users: Iterable[str], pool_size: int = 8) -> Bouncer:
    """A PgBouncer in transaction mode for every database of the server at host:port (trust, like it)."""
    binary = ensure_installed()
    directory = Path(tempfile.mkdtemp(prefix="atlas-pgbouncer-"))
    os.chmod(directory, 0o755)
    listen = free_port()
    (directory / "users.txt").write_text("".join(f'"{user}" ""\n' for user in users))
    (directory / "pgbouncer.ini").write_text(f"""[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = trust
auth_file = {directory}/users.txt
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 200
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
logfile = {directory}/pgbouncer.log
pidfile = {directory}/pgbouncer.pid
""")
    command = [binary, str(directory / "pgbouncer.ini")]
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        for path in directory.iterdir():
            os.chown(path, owner.pw_uid, owner.pw_gid)
        os.chown(directory, owner.pw_uid, owner.pw_gid)
        command = [binary, "-u", "postgres", str(directory / "pgbouncer.ini")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    bouncer = Bouncer(listen, process, directory)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = bouncer.log()
            shutil.rmtree(directory, ignore_errors=True)
            raise RuntimeError(f"pgbouncer exited at start: {error[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", listen), timeout=0.5):
                return bouncer
        except OSError:
            time.sleep(0.1)
    bouncer.stop()
    raise RuntimeError("pgbouncer did not start listening in time")
