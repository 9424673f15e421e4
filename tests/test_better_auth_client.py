"""The official Better Auth client (npm `better-auth`, pinned in tests/betterauth/package.json) against Atlas.

tests/betterauth/client_checks.mjs drives every core and organization method
Atlas serves through `createAuthClient` + `organizationClient`, once as a
browser would (cookie jar, `Origin` of a trusted site) and once as an app with
a bearer token kept from `set-auth-token`, against a live Atlas (granian, as atlas serve runs it); the
client's own parsing decides dates, `error.code` and `error.message`. The
packages are installed with `npm ci` into .cache/node/ (git-ignored) when the
pinned version is not there yet; Node itself comes from apt when missing.

The same checks then run against a real Better Auth server (the pinned
package with its memory adapter, tests/betterauth/reference_server.mjs): the
checks that differ there must be exactly the deliberate differences listed in
DELIBERATE (and in docs/api.md "Better Auth's client").
"""
from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.devdb.databases import DatabaseFactory
from app.devdb.ports import free_port
from tests.support.serving import ServedApp, served_app

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "tests" / "betterauth"
CACHE = ROOT / ".cache" / "node"
TRUSTED_ORIGIN = "http://app.example.test"


def _pinned_version() -> str:
    return str(json.loads((SPEC / "package.json").read_text())["dependencies"]["better-auth"])


def _ensure_node() -> str:
    node = shutil.which("node")
    if node is None:  # a clean Debian machine: make test runs as root
        subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "--no-install-recommends",
                        "nodejs", "npm"], check=True, capture_output=True)
        node = shutil.which("node")
    assert node is not None, "node is needed for the Better Auth client checks"
    return node


def ensure_client_packages() -> Path:
    """.cache/node with the pinned packages (npm ci, only when missing or stale) and the check script."""
    CACHE.mkdir(parents=True, exist_ok=True)
    installed = CACHE / "node_modules" / "better-auth" / "package.json"
    lock = SPEC / "package-lock.json"
    if not installed.exists() or json.loads(installed.read_text())["version"] != _pinned_version() \
            or (CACHE / "package-lock.json").read_bytes() != lock.read_bytes():
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(SPEC / name, CACHE / name)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(CACHE)], check=True,
                       capture_output=True, timeout=600)
    for name in ("client_checks.mjs", "reference_server.mjs"):  # they resolve node_modules beside them
        shutil.copyfile(SPEC / name, CACHE / name)
    return CACHE / "client_checks.mjs"


def run_checks(script: Path, base_url: str, outbox: Path, style: str) -> tuple[list[dict], str]:
    run = subprocess.run(["node", str(script), base_url, TRUSTED_ORIGIN, str(outbox), style],
                         capture_output=True, text=True, timeout=300, cwd=CACHE)
    return [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")], run.stderr


@pytest.fixture(scope="module")
def atlas(db_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedApp, Path]]:
    db = db_factory.clone()
    outbox = tmp_path_factory.mktemp("outbox") / "messages.jsonl"
    try:
        with served_app(db, workers=2, threads=4, trusted_origins=TRUSTED_ORIGIN,
                        password_reset_sender="tests.support.outbox:deliver", TEST_OUTBOX=str(outbox)) as server:
            yield server, outbox
    finally:
        db_factory.drop(db.name)


@pytest.fixture(scope="module")
def script() -> Path:
    _ensure_node()
    return ensure_client_packages()


@pytest.mark.parametrize("style", ["cookie", "bearer"])
def test_the_official_client_works_unchanged(atlas: tuple[ServedApp, Path], script: Path, style: str) -> None:
    server, outbox = atlas
    results, stderr = run_checks(script, f"http://127.0.0.1:{server.port}/api/auth", outbox, style)
    failed = [f"{r['name']}: {r['detail']}" for r in results if not r["ok"]]
    assert results and not failed, "\n".join(failed) or stderr
    assert len(results) >= 80, f"only {len(results)} client checks ran"
    print(f"{len(results)} Better Auth client checks passed ({style})")


# Checks that a real Better Auth server fails, each because Atlas differs there on purpose.
DELIBERATE = {
    "organization.listUserInvitations for the invitee": "Better Auth wants a verified email; Atlas has no "
                                                        "verification flow",
    "organization.getInvitation of someone else's": "Atlas does not reveal that another's invitation exists",
    "after setActive(null) the session has no org": "switching issues a fresh token in Atlas",
    "the fresh session keeps the org": "change-password's fresh session stays on the org in Atlas",
    "the refused requests changed nothing": "follows from the one above (Better Auth's fresh session has no org)",
    "revokeSession by the handle listSessions gave": "Atlas lists other sessions by a handle, not their token",
    "a new signIn.email lands in the org used last": "Better Auth's sign-in starts without an active org "
                                                     "(its issues #685, #9070); Atlas restores the last one",
    "CORS preflight from the trusted origin": "Better Auth leaves CORS to the host framework",
    "CORS exposes set-auth-token to the trusted origin": "Better Auth leaves CORS to the host framework",
}


@pytest.fixture(scope="module")
def reference(script: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    port, outbox = free_port(), tmp_path_factory.mktemp("reference") / "messages.jsonl"
    server = subprocess.Popen(["node", str(CACHE / "reference_server.mjs"), str(port), TRUSTED_ORIGIN, str(outbox)],
                              cwd=CACHE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "listening"
        yield f"http://127.0.0.1:{port}/api/auth", outbox
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()


@pytest.mark.parametrize("style", ["cookie", "bearer"])
def test_a_real_better_auth_server_differs_only_where_atlas_does_on_purpose(
        reference: tuple[str, Path], script: Path, style: str) -> None:
    base_url, outbox = reference
    results, stderr = run_checks(script, base_url, outbox, style)
    assert len(results) >= 80, stderr or results
    differing = {r["name"] for r in results if not r["ok"]}
    details = {r["name"]: r["detail"] for r in results if not r["ok"] and r["name"] not in DELIBERATE}
    assert differing <= set(DELIBERATE), details
    assert differing, "the reference run must show Atlas's deliberate differences (is it really Better Auth?)"
    print(f"Better Auth {style}: {len(results) - len(differing)} of {len(results)} checks alike, "
          f"{len(differing)} deliberate differences")
