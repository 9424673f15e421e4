"""app/devdb, the local-PostgreSQL toolkit, serves the demo, the tests and the scripts, never the service.

It is importable without sys.path edits (an installed package), and scripts/ and the Makefile use it
instead of tests/support, so no script reaches into the tests for a server or a database.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_service_never_imports_the_dev_toolkit():
    importers = [str(path.relative_to(ROOT)) for path in sorted((ROOT / "app").rglob("*.py"))
                 if "devdb" not in path.parts and any(n.startswith("app.devdb") for n in _imports(path))]
    assert importers == []


def test_the_dev_toolkit_imports_nothing_from_the_tests_or_the_web_layer():
    for path in sorted((ROOT / "app" / "devdb").glob("*.py")):
        assert not {n for n in _imports(path) if n.split(".")[0] in ("tests", "scripts", "flask")}, path


def test_no_script_or_makefile_rule_edits_sys_path_or_imports_the_tests_toolkit():
    for path in [*sorted((ROOT / "scripts").glob("*.py")), ROOT / "Makefile"]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"sys\.path\.(insert|append)|noqa: E402", text), path
        assert not re.search(r"tests\.support\.(choice|server|databases|audit|ports|standby)\b", text), path
