"""Who runs an operator's command: it has no Atlas user, so its audit entries name the OS user and host."""
from __future__ import annotations

import getpass
import socket


def operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container): say so rather than fail
        return "unknown"


def who() -> dict[str, str]:
    """The `operator` and `host` keys of an audit entry's detail."""
    return {"operator": operator(), "host": socket.gethostname()}
