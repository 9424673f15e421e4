"""`atlas mcp` for the MCP tests: its environment on a test world, a seeded org, and the HTTP server as a process."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2

from tests.support.api import ApiUser, TwoOrgs

ROOT = Path(__file__).resolve().parents[2]
ATLAS = [sys.executable, "-m", "app.cli"]
CONTACTS_ENTITY = """table: contacts
description: {description}
dimensions:
- name: id
  sql: id
  type: uuid
  primary_key: true
- name: first_name
  sql: first_name
  type: string
"""


def atlas_environment(orgs: TwoOrgs, semantic_root: Path, **settings: str) -> dict[str, str]:
    """The environment of an `atlas` process on the world's database (none of this process's ATLAS_ settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_")}
    env.update({"DATABASE_URL": orgs.db.admin_url, "ATLAS_ROLE_PREFIX": orgs.db.roles.owner.removesuffix("_owner"),
                "ATLAS_SEMANTIC_ROOT": str(semantic_root), "PYTHONPATH": str(ROOT), "ATLAS_POOL_MAX_SIZE": "4",
                **settings})
    return env


def seed_contacts(owner: ApiUser, *, description: str, first_name: str) -> str:
    """The org's contacts entity (described as given) and one contact named `first_name`; its id."""
    r = owner.put("/api/v1/admin/semantic/org/entities/contacts",
                  json={"yamlContent": CONTACTS_ENTITY.format(description=description)})
    assert r.status_code in (200, 201), r.get_json()
    r = owner.post("/api/v1/contacts", json={"first_name": first_name, "last_name": "x"})
    assert r.status_code == 201, r.get_json()
    return str(r.get_json()["id"])


@contextmanager
def mcp_http(env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`atlas mcp --http` on `port`, listening, its output in `log`; terminated on the way out."""
    with log.open("wb") as out:
        server = subprocess.Popen([*ATLAS, "mcp", "--http", "--port", str(port)], env=env, cwd=ROOT,
                                  stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_listening(port, server=server, log=log)
            yield server
        finally:
            server.terminate()
            server.wait(timeout=30)


def wait_listening(port: int, *, server: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
    """Until `atlas mcp --http` answers on `port` (30 s at most; `server` must not exit meanwhile).

    A failure shows the end of its `log`."""
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx2.get(f"http://127.0.0.1:{port}/mcp", timeout=2)
            return
        except httpx2.TransportError:
            tail = "" if log is None else ": " + log.read_text(errors="replace")[-2000:]
            assert server is None or server.poll() is None, "atlas mcp --http exited" + tail
            assert time.monotonic() < deadline, "atlas mcp --http did not start listening" + tail
            time.sleep(0.2)
