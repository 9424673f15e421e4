"""A real OpenID Connect provider for the SSO tests: panva's oidc-provider (npm, pinned in tests/oidc/).

Installed with `npm ci` into .cache/oidc/ (git-ignored) when missing or stale,
started as `node provider.mjs <port> <config.json>` on a free port; see
tests/oidc/provider.mjs for what it does and the one test hook it has (the
next ID token misbehaving, as a compromised provider's would).
"""
from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from app.devdb.ports import free_port

ROOT = Path(__file__).resolve().parent.parent.parent
SPEC = ROOT / "tests" / "oidc"
CACHE = ROOT / ".cache" / "oidc"


def _ensure_node() -> None:
    if shutil.which("node") is None:  # a clean Debian machine: make test runs as root
        subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "--no-install-recommends",
                        "nodejs", "npm"], check=True, capture_output=True)


def ensure_provider_package() -> Path:
    """.cache/oidc with the pinned oidc-provider (npm ci only when missing or stale) and provider.mjs."""
    _ensure_node()
    CACHE.mkdir(parents=True, exist_ok=True)
    lock = SPEC / "package-lock.json"
    installed = CACHE / "node_modules" / "oidc-provider" / "package.json"
    pinned = json.loads((SPEC / "package.json").read_text())["dependencies"]["oidc-provider"]
    if not installed.exists() or json.loads(installed.read_text())["version"] != pinned \
            or not (CACHE / "package-lock.json").exists() \
            or (CACHE / "package-lock.json").read_bytes() != lock.read_bytes():
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(SPEC / name, CACHE / name)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(CACHE)], check=True,
                       capture_output=True, timeout=600)
    shutil.copyfile(SPEC / "provider.mjs", CACHE / "provider.mjs")
    return CACHE / "provider.mjs"


@dataclass
class Provider:
    issuer: str

    def misbehave_once(self, **change: Any) -> None:
        """The next ID token: another `audience`, another `nonce`, or expired by `expiredBy` seconds."""
        r = requests.post(f"{self.issuer}/_test/next-id-token", json=change, timeout=5)
        assert r.status_code == 204

    def authorize(self, url: str, *, stop_at: str) -> str:
        """Follow the provider's redirects as a browser would, up to the redirect to `stop_at`: that URL."""
        browser = requests.Session()
        response = browser.get(url, allow_redirects=False, timeout=10)
        for _ in range(10):
            location = response.headers.get("location")
            assert response.status_code in (302, 303) and location, (response.status_code, response.text[:500])
            location = urljoin(response.url, location)
            if location.startswith(stop_at):
                return location
            response = browser.get(location, allow_redirects=False, timeout=10)
        raise AssertionError("the provider never redirected back")


@contextmanager
def running_provider(*, clients: list[dict], accounts: dict[str, dict], workdir: Path) -> Iterator[Provider]:
    script = ensure_provider_package()
    port = free_port()
    config = workdir / "oidc-config.json"
    config.write_text(json.dumps({"clients": clients, "accounts": accounts}))
    process = subprocess.Popen(["node", str(script), str(port), str(config)], cwd=CACHE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.strip() == "listening":
                break
        else:
            raise AssertionError("oidc-provider did not start")
        yield Provider(issuer=f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def path_of(url: str) -> str:
    """The path and query of a URL, for Flask's test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path
