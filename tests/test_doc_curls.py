"""Every curl line of README.md and docs/*.md works against an Atlas seeded as `make demo` seeds it.

The demo's own seeding (scripts/demo.py: Acme and Globex through the API, CRM rows, profiled semantic
layers, the sample warehouse and Acme's connection to it) runs on a fresh clone, with the warehouse under
names of this run's own so a `make demo` on the same server is left alone; then `atlas serve` runs on a
free port. The fenced shell blocks that hold a curl command run in order in one bash, README.md first and
then docs/*.md by name, so the variables README's demo block defines (ATLAS, TOKEN, ADMIN, GLOBEX) hold
in every page; the demo's URL http://127.0.0.1:8000 is replaced by the served one.

What the markdown may say, and the test reads:
- `# -> 404 ...` after a command: every request it makes answers that status (`# -> 400 sql_rejected`:
  and its body carries that error code);
- `<!-- doc-curls: skip: <why> -->` on the line before a fence: the block cannot run here (a placeholder
  server, say); it is counted and its reason printed.
Every other request must get an answer, and none may be a 5xx.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from app.devdb.databases import DatabaseFactory
from tests.support.serving import Served, atlas_serve

ROOT = Path(__file__).resolve().parents[1]
PAGES = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
DEMO_URL = "http://127.0.0.1:8000"
SHELLS = {"", "sh", "bash", "shell"}
FENCE = re.compile(r"^```\s*([\w-]*)\s*$")
SKIP = re.compile(r"<!--\s*doc-curls:\s*skip:\s*(?P<why>\S.*?)\s*-->")
EXPECT = re.compile(r"#\s*->\s*(\d{3})(?:\s+([a-z]+_[a-z_]+|[A-Z]+_[A-Z_]+)\b)?")
CURL = re.compile(r"(?:^|[\s;|&($])curl\s")
DEFINES = re.compile(r"^\s*\w+\(\)\s*\{")
CHEAP_ARGON2 = {"ATLAS_ARGON2_TIME_COST": "1", "ATLAS_ARGON2_MEMORY_KIB": "1024", "ATLAS_ARGON2_PARALLELISM": "1"}

# scripts/demo.py's main() with the warehouse's database, role and kept secrets renamed for this run; the
# last line printed is the connection settings the demo's server runs with.
SEED = """
import json, os, sys
from pathlib import Path
from scripts import demo, demo_warehouse
demo_warehouse.DBNAME, demo_warehouse.ROLE, demo_warehouse.KEPT = sys.argv[1], sys.argv[2], Path(sys.argv[3])
sys.argv = ["demo", "--rows-per-org", "100"]
status = demo.main()
print(json.dumps(demo_warehouse.environment(os.environ["DATABASE_URL"])))
sys.exit(status)
"""


@dataclass(frozen=True)
class Command:
    """One shell command of a block (continuation lines joined), where it starts, what it must answer."""

    where: str
    text: str
    expect: int | None
    code: str | None = None  # `# -> 400 sql_rejected`: the error body's code

    @property
    def calls_curl(self) -> bool:
        return bool(CURL.search(self.text))

    @property
    def must_answer(self) -> bool:
        """A curl command that runs now (a shell function defining one runs when it is called)."""
        return self.calls_curl and not DEFINES.match(self.text)


@dataclass(frozen=True)
class Block:
    where: str
    commands: tuple[Command, ...]
    skip: str | None


def _commands(page: str, first_line: int, body: list[str]) -> Iterator[Command]:
    """Logical commands: a line ending in a backslash goes on (a command the test runs continues no other way)."""
    text: list[str] = []
    start = first_line
    for n, line in enumerate(body, first_line):
        if not text:
            start = n
        text.append(line)
        joined = "\n".join(text)
        if line.endswith("\\"):
            continue
        if joined.strip() and not joined.lstrip().startswith("#"):
            found = EXPECT.search(joined)
            yield Command(f"{page}:{start}", joined, int(found.group(1)) if found else None,
                          found.group(2) if found else None)
        text = []


def curl_blocks(path: Path) -> list[Block]:
    """The fenced shell blocks of a page that hold a curl command, in order."""
    page = str(path.relative_to(ROOT))
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if not opened:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), len(lines))
        body = lines[i + 1:end]
        if opened.group(1) in SHELLS and any(CURL.search(line) for line in body):
            skip = SKIP.search(lines[i - 1]) if i else None
            blocks.append(Block(f"{page}:{i + 1}", tuple(_commands(page, i + 2, body)),
                                skip.group("why") if skip else None))
        i = end + 1
    return blocks


def shell_script(blocks: list[Block], base_url: str) -> str:
    """One bash script: a `curl` that records `@@ <where> <status>` per request (and the body, then
    `@@ <where>`, in DOC_CURL_BODIES), then every command."""
    lines = ['curl() { command curl --max-time 30 -w "%{stderr}@@ $DOC_AT %{http_code}\\n" "$@" 2>>"$DOC_CURL_LOG"'
             ' | tee -a "$DOC_CURL_BODIES"; printf "\\n@@ %s\\n" "$DOC_AT" >>"$DOC_CURL_BODIES"; }']
    for block in blocks:
        for command in block.commands:
            lines += [f"DOC_AT='{command.where}'", command.text.replace(DEMO_URL, base_url)]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def demo(db_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A clone seeded by scripts/demo.py, served by `atlas serve`; the warehouse dropped afterwards."""
    db = db_factory.clone()
    tmp = tmp_path_factory.mktemp("doc-curls")
    warehouse, reader = f"{db.name}_wh", f"{db.name}_wh_reader"
    semantic = {"ATLAS_SEMANTIC_ROOT": str(tmp / "semantic"), **CHEAP_ARGON2}
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_CONNECTION_")}
    env.update(DATABASE_URL=db.admin_url, ATLAS_ROLE_PREFIX=db.roles.owner.removesuffix("_owner"), **semantic)
    try:
        seeded = subprocess.run([sys.executable, "-c", SEED, warehouse, reader, str(tmp / "demo.json")],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert seeded.returncode == 0, seeded.stdout + seeded.stderr
        connections = json.loads(seeded.stdout.strip().splitlines()[-1])
        with atlas_serve(db, tmp / "serve.log", workers=1, env={**connections, **semantic}) as served:
            yield served
    finally:
        db_factory.drop(db.name)
        with psycopg.connect(db_factory.server.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(warehouse)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(reader)))


def test_the_pages_hold_curl_blocks_and_say_why_one_is_skipped():
    blocks = [block for path in PAGES for block in curl_blocks(path)]
    assert blocks[0].where.startswith("README.md"), "README.md's demo block defines what the others use"
    assert sum(c.calls_curl for b in blocks for c in b.commands) >= 10
    marks = sum(len(re.findall(r"^<!--\s*doc-curls", path.read_text(encoding="utf-8"), re.MULTILINE)) for path in PAGES)
    assert marks == sum(block.skip is not None for block in blocks), \
        "a `<!-- doc-curls: skip: <why> -->` must give its reason and stand just before a curl block's fence"


def test_no_curl_command_hides_outside_a_fenced_shell_block():
    """A curl command in prose, a table or a block of another language would escape the run below."""
    stray = []
    for path in PAGES:
        language = None  # None: outside a fence
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            fence = FENCE.match(line)
            if fence and language is None:
                language = fence.group(1)
            elif line.strip() == "```" and language is not None:
                language = None
            elif language not in SHELLS and re.search(r"(?:^|[\s`$(])curl\s+[-$h]", line):
                stray.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not stray, "\n".join(stray)


def test_every_curl_line_of_the_readme_and_docs_works_against_the_demo(demo: Served, tmp_path: Path):
    blocks = [block for path in PAGES for block in curl_blocks(path)]
    run = [block for block in blocks if block.skip is None]
    skipped = [(block.where, block.skip, sum(c.calls_curl for c in block.commands)) for block in blocks
               if block.skip is not None]
    print(f"\n{sum(c.calls_curl for b in run for c in b.commands)} curl commands run in {len(run)} blocks; "
          f"{sum(n for *_, n in skipped)} in {len(skipped)} blocks skipped:")
    for where, why, _ in skipped:
        print(f"  {where}: {why}")
    log = tmp_path / "statuses.log"
    script = tmp_path / "doc_curls.sh"
    script.write_text(shell_script(run, f"http://127.0.0.1:{demo.port}"))
    bodies = tmp_path / "bodies.log"
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=600, check=False,
                          env={"PATH": os.environ["PATH"], "DOC_CURL_LOG": str(log), "DOC_CURL_BODIES": str(bodies)})
    answered: dict[str, list[int]] = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        if line.startswith("@@ "):
            _, where, status = line.split()
            answered.setdefault(where, []).append(int(status))
    said: dict[str, list[str]] = {}
    for body, where in re.findall(r"(.*?)\n@@ (\S+)\n", bodies.read_text() if bodies.exists() else "", re.DOTALL):
        said.setdefault(where, []).append(body)
    wrong = []
    for command in (c for block in run for c in block.commands):
        statuses = answered.get(command.where, [])
        if (command.must_answer and not statuses) or any(s == 0 or s >= 500 for s in statuses):
            wrong.append(f"{command.where}: answered {statuses or 'nothing'}\n    {command.text}")
        elif command.expect is not None and any(s != command.expect for s in statuses):
            wrong.append(f"{command.where}: answered {statuses}, the page says {command.expect}\n    {command.text}")
        elif command.code and not all(re.search(f'"code": ?"{command.code}"', b) for b in said.get(command.where, [""])):
            wrong.append(f"{command.where}: the page says {command.code}, the body: {said.get(command.where)}")
    assert not wrong, "\n".join(wrong) + f"\n--- stdout:\n{done.stdout[-3000:]}\n--- stderr:\n{done.stderr[-3000:]}"
