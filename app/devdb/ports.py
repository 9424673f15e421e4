"""A free TCP port, for the servers the tests and benchmarks start themselves (atlas serve, redis-server, PostgreSQL)."""
from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on now (bound and released at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
