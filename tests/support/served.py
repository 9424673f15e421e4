"""`python -m tests.support.served PORT WORKERS THREADS ACCESS_LOG CONFIG`: the app on granian, as `atlas serve` runs it.

tests/support/serving.py's `served_app` starts this: `create_app(CONFIG)` (CONFIG a Python literal, from
tests/support/api.py's app_config) under app/serving.py's `run`, every request logged to ACCESS_LOG as
`<worker pid> <X-Request-Id> <status>`, so a test can tell which worker answered.
"""
from __future__ import annotations

import ast
import sys

from app import close_app, create_app
from app.serving import run


def main(argv: list[str]) -> None:
    port, workers, threads, access_log, config = argv
    settings = ast.literal_eval(config)
    log_config = {
        "formatters": {"access": {"format": "%(process)d %(message)s"},
                       "generic": {"format": "[%(levelname)s] %(message)s"}},
        "handlers": {"access": {"class": "logging.FileHandler", "filename": access_log, "formatter": "access"},
                     "console": {"class": "logging.StreamHandler", "formatter": "generic", "stream": "ext://sys.stderr"}},
        "loggers": {"granian.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
                    "_granian": {"handlers": ["console"], "level": "WARNING", "propagate": False}},
    }
    run(lambda: create_app(settings), close=close_app, host="127.0.0.1", port=int(port), workers=int(workers),
        threads=int(threads), graceful_timeout_s=30, access_log=True,
        access_format="%(header{x-request-id})s %(status)d", log_config=log_config)


if __name__ == "__main__":
    main(sys.argv[1:])
