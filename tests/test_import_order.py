"""Every module of `app` imports on its own, first: an import circle that only bites in some orders fails here.

Such a circle passes every test that happens to import the modules in a lucky order and then breaks a
test file (or a worker, or a script) that imports the other end first. Each module is imported into an
interpreter whose `app.*` modules have all been forgotten, so each is the first `app` import there.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_PROBE = """
import importlib, pkgutil, sys, traceback
import app
names = sorted(m.name for m in pkgutil.walk_packages(app.__path__, "app."))
failed = []
for name in names:
    for loaded in [m for m in sys.modules if m == "app" or m.startswith("app.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ":\\n" + traceback.format_exc(limit=-3))
print(len(names))
print("\\n".join(failed))
"""


def test_every_app_module_imports_first_without_a_circle() -> None:
    done = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    count, _, failures = done.stdout.partition("\n")
    assert int(count) > 100, "app's modules were not found"
    assert not failures.strip(), f"modules that fail when imported first:\n{failures}"
