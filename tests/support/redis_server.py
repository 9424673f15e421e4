"""Redis for tests: a redis-server of the test's own (to stop, hang or kill), and cleanup on the shared one."""
from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import redis

from app.devdb.ports import free_port

SHARED_REDIS = "redis://127.0.0.1:6379/0"


def delete_prefixed(prefix: str, url: str = SHARED_REDIS) -> None:
    """Delete a test's keys (`prefix:*`) on a Redis others use too: never FLUSHALL a shared Redis."""
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


class RedisServer:
    """A redis-server on a free port, without persistence: a restart comes back empty."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.ping()
                    return self
                except redis.ConnectionError:
                    assert time.monotonic() < deadline, "redis-server did not start"
                    time.sleep(0.05)
        finally:
            client.close()

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a stopped process must run to die of SIGKILL cleanly
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
