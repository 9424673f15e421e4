"""`make demo`'s last step: `atlas serve` and one `atlas worker`, started and stopped together.

Without a worker the demo's background jobs would stay queued forever. The two
run as children of this process: when either ends (or this process gets
SIGTERM, SIGINT or SIGHUP) the other is asked to stop with SIGTERM (the worker
finishes the job it holds, granian the requests it holds) and this process
exits with the server's status once both are gone. Arguments go to `atlas serve`.
Both run with the connection settings of the demo's sample warehouse (scripts/demo_warehouse.py).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts import demo_warehouse

ATLAS = str(Path(sys.executable).with_name("atlas"))
STOP_WAIT_S = 60.0  # longer than `atlas serve`'s graceful timeout, so it is never cut short


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT_S
    for child in children:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main(serve_args: list[str]) -> int:
    stopping: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda received, _frame: stopping.append(received))
    env = {**os.environ, **demo_warehouse.environment(os.environ.get("DATABASE_URL", ""))}
    server = subprocess.Popen([ATLAS, "serve", *serve_args], env=env)
    worker = subprocess.Popen([ATLAS, "worker"], env=env)
    try:
        while not stopping and server.poll() is None and worker.poll() is None:
            time.sleep(0.2)
    finally:
        _stop([server, worker])
    if worker.returncode not in (0, -signal.SIGTERM) and not stopping:
        print(f"atlas worker ended with {worker.returncode}; the server was stopped with it", file=sys.stderr)
    return server.returncode if server.returncode >= 0 else 128 - server.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
