"""A fake PostgreSQL server that asks for a cleartext password and records what a client sends.

It stands in for a server a tenant controls: it speaks just enough of the v3
protocol to receive a startup message (refusing SSL and GSS encryption, so
everything arrives in the clear), answers AuthenticationCleartextPassword,
keeps whatever password message comes back, and ends with a FATAL
invalid_password. A client that sends nothing is recorded with
`password=None`. Used to prove Atlas hands a tenant's server nothing of its own.
"""
from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104


@dataclass
class Attempt:
    """One client's visit: its startup parameters and the password it sent (None: it sent none)."""

    startup: dict[str, str] = field(default_factory=dict)
    password: bytes | None = None
    requests: list[str] = field(default_factory=list)  # "ssl", "gssenc": what it asked for before starting


@dataclass
class FakePostgres:
    host: str
    port: int
    attempts: list[Attempt] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)


def _read_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client closed")
        data += chunk
    return data


def _error(message: str) -> bytes:
    fields = b"SFATAL\0VFATAL\0C28P01\0M" + message.encode() + b"\0\0"
    return b"E" + struct.pack("!I", 4 + len(fields)) + fields


def _serve_one(conn: socket.socket, server: FakePostgres) -> None:
    attempt = Attempt()
    server.attempts.append(attempt)
    try:
        while True:
            length, code = struct.unpack("!II", _read_exact(conn, 8))
            if code in (SSL_REQUEST, GSSENC_REQUEST):
                attempt.requests.append("ssl" if code == SSL_REQUEST else "gssenc")
                conn.sendall(b"N")
                continue
            body = _read_exact(conn, length - 8)
            parts = body.split(b"\0")
            attempt.startup = {parts[i].decode(): parts[i + 1].decode() for i in range(0, len(parts) - 1, 2)
                               if parts[i]}
            break
        conn.sendall(b"R" + struct.pack("!II", 8, 3))  # AuthenticationCleartextPassword
        kind = _read_exact(conn, 1)
        (length,) = struct.unpack("!I", _read_exact(conn, 4))
        payload = _read_exact(conn, length - 4)
        if kind == b"p":
            attempt.password = payload.rstrip(b"\0")
        conn.sendall(_error("password authentication failed (fake server)"))
    except (ConnectionError, OSError, struct.error):
        pass
    finally:
        conn.close()
        server.done.set()


@contextmanager
def fake_postgres(host: str = "127.0.0.1") -> Iterator[FakePostgres]:
    """A listening fake server on a free port of `host`, closed on exit."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, 0))
    listener.listen(16)
    server = FakePostgres(host=host, port=listener.getsockname()[1])
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=_serve_one, args=(conn, server), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True, name="fake-postgres")
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)
