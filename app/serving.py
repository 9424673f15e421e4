"""The HTTP front: granian (a Rust HTTP server) running the WSGI app in worker processes.

Why granian and not gunicorn: on this app, the same load and the same machine, granian's
workers spend about 200-300 us less CPU per request (the JSON 404 at 320 against 520 us,
a page of 50 at 1,060 against 1,240 us; scripts/bench_api.py, scripts/bench_peer.py), HTTP
parsing and keep-alive handled in Rust while Python threads run only the app.

`run` forks `workers` processes; each builds its app with `build()` after the fork (its own
pools), runs it on `threads` blocking threads, and releases it (`close`) when it exits. On
SIGTERM the master stops accepting, each worker finishes the requests it holds and is killed
after `graceful_timeout_s`; a worker that dies is replaced (respawn_failed_workers). The
caller sets up anything the workers must inherit (PROMETHEUS_MULTIPROC_DIR) before `run`.
"""
from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.util
import signal
from collections.abc import Callable
from typing import Any

ACCESS_FORMAT = '%(addr)s "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).1fms'
WSGIApp = Any
MAX_HEAD_BYTES = 64 * 1024  # request line and headers of one request


def run(build: Callable[[], WSGIApp], *, close: Callable[[WSGIApp], None] | None = None, host: str, port: int,
        workers: int, threads: int, graceful_timeout_s: int, access_log: bool = False,
        access_format: str = ACCESS_FORMAT, log_config: dict[str, Any] | None = None) -> None:
    """Serve `build()`'s WSGI app until SIGTERM or SIGINT; returns once every worker has exited."""
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    # Workers are forked, so they inherit `build` (a closure) and the environment as they are now.
    multiprocessing.set_start_method("fork", force=True)

    def load(*_: Any) -> WSGIApp:
        # Forked with the master's signal handlers, which only set a flag in the master's server object:
        # a SIGTERM while this worker builds its app (before granian sets the worker's own handlers)
        # would be lost and the worker would never stop. Until then, the default action: it ends.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        app = build()
        if close is not None:  # run when the worker process exits (multiprocessing's exit hooks)
            multiprocessing.util.Finalize(app, close, args=(app,), exitpriority=10)
        return app

    server = Server(
        "atlas",  # a label only: `load` builds the app
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        websockets=False,
        log_level=LogLevels.warning,
        log_dictconfig=log_config,
        log_access=access_log,
        log_access_format=access_format if access_log else None,
        # The request line and headers together, as gunicorn bounded them (4 KiB line, 8 KiB a field);
        # a body is bounded by the app (MAX_CONTENT_LENGTH: 413 in the API's JSON shape).
        http1_settings=HTTP1Settings(max_buffer_size=MAX_HEAD_BYTES),
        respawn_failed_workers=True,
        workers_kill_timeout=graceful_timeout_s,
    )
    logging.getLogger("atlas.serving").info("granian on %s:%s, %d workers x %d threads", host, port, workers, threads)
    server.serve(target_loader=load, wrap_loader=False)
