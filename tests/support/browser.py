"""A real browser for console tests: Debian's headless Chromium driven by selenium, and a live Atlas.

`ensure_chromium()` installs `chromium` and `chromium-driver` with apt-get when they are missing (the
test set-up runs as root in `make test`), serialized across xdist workers by a file lock. Selenium is
given both binaries, so it never downloads a browser or a driver. `console_server` serves the app
with granian on a port chosen first, so ATLAS_PUBLIC_URL is the server's own origin (the origin the
browser's fetches send). `Page` waits on `<body data-ready="true">`, which every console page sets
once its data is shown.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from app.devdb.databases import TestDatabase
from app.devdb.ports import free_port
from tests.support.serving import ServedApp, served_app

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromedriver")
APT = ["apt-get", "-o", "DPkg::Lock::Timeout=600"]
WAIT_S = 30  # generous: the suite shares two cores with other work


def ensure_chromium() -> tuple[str, str]:
    """The browser and its driver, installed from Debian's packages when missing."""
    if all(Path(p).exists() for p in CHROMIUM):
        return CHROMIUM
    with open("/tmp/atlas-chromium-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not all(Path(p).exists() for p in CHROMIUM):
            assert shutil.which("apt-get"), "chromium and chromium-driver are missing and apt-get is not available"
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            install = [*APT, "install", "-y", "--no-install-recommends", "chromium", "chromium-driver"]
            if subprocess.run(install, env=env, capture_output=True).returncode != 0:
                subprocess.run([*APT, "update"], env=env, check=True, capture_output=True)
                subprocess.run(install, env=env, check=True, capture_output=True)
    return CHROMIUM


@contextmanager
def chromium(*, width: int = 1280, height: int = 860) -> Iterator[webdriver.Chrome]:
    browser, driver = ensure_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--hide-scrollbars", "--force-device-scale-factor=1",
                "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(arg)
    service = Service(executable_path=driver, log_output=subprocess.DEVNULL)
    chrome = webdriver.Chrome(options=options, service=service)
    chrome.set_page_load_timeout(30)
    try:
        yield chrome
    finally:
        chrome.quit()


@contextmanager
def console_server(db: TestDatabase, **overrides: Any) -> Iterator[ServedApp]:
    """The server (one worker, four threads) whose public URL is its own origin."""
    port = free_port()
    with served_app(db, workers=1, threads=4, port=port, public_url=f"http://127.0.0.1:{port}", **overrides) as app:
        yield app


class Page:
    """The browser on one live server, with waits that follow the console's `data-ready` signal."""

    def __init__(self, driver: webdriver.Chrome, port: int, shots: Path) -> None:
        self.driver, self.port, self.shots = driver, port, shots

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait(self, condition: Callable[[webdriver.Chrome], Any], timeout_s: float = WAIT_S) -> Any:
        return WebDriverWait(self.driver, timeout_s).until(condition)

    def wait_ready(self) -> None:
        self.wait(lambda d: d.execute_script("return document.body && document.body.dataset.ready === 'true'"))

    def navigating(self, action: Callable[[], Any]) -> None:
        """Run an action that loads another page (or the same one again), then wait for it to be ready."""
        self.driver.execute_script("document.body.dataset.ready = 'old'")
        action()
        self.wait_ready()

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)
        self.wait_ready()

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def visible(self, css: str) -> bool:
        return any(e.is_displayed() for e in self.find_all(css))

    def texts(self, css: str) -> list[str]:
        return [e.text for e in self.find_all(css)]

    def sign_in(self, email: str, password: str, *, then: str | None = None) -> None:
        """Through the sign-in page, as a person would: type, press Enter."""
        self.driver.delete_all_cookies()
        self.open("/sign-in" + (f"?next={then}" if then else ""))
        self.find("#si-email").send_keys(email)
        self.find("#si-password").send_keys(password)
        self.navigating(lambda: self.find("#si-password").send_keys(Keys.ENTER))

    def shot(self, name: str) -> Path:
        """A PNG of the viewport: into docs/screenshots with ATLAS_UPDATE_SCREENSHOTS=1, else a temporary folder."""
        folder = SCREENSHOTS if os.environ.get("ATLAS_UPDATE_SCREENSHOTS") else self.shots
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        assert self.driver.save_screenshot(str(path)), name
        return path
