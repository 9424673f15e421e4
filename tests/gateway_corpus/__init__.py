"""Corpora and fixture files for the SQL gateway tests, and their small loaders.

Corpus files (analytic.sql, attacks.sql) hold entries that start with
`-- query: <name>`; optional `-- expect: <word>` lines follow; the rest up to
the next entry is the SQL text, kept byte for byte (trailing semicolons and
second statements are part of some attacks).

Fixture files (tests/fixtures/gateway/*.sql) hold `-- title: <words>` followed
by an input line and an expected line, in the manner of sqlglot's optimizer
fixtures.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures" / "gateway"


@dataclass(frozen=True)
class Entry:
    name: str
    sql: str
    expect: tuple[str, ...] = field(default=())


def load_corpus(filename: str) -> list[Entry]:
    """Entries of a corpus file; names must be unique (they are test ids)."""
    entries: list[Entry] = []
    name, expect, lines = None, [], []
    for line in (HERE / filename).read_text(encoding="utf-8").splitlines():
        if line.startswith("-- query:"):
            if name is not None:
                entries.append(Entry(name, "\n".join(lines).strip("\n"), tuple(expect)))
            name, expect, lines = line.removeprefix("-- query:").strip(), [], []
        elif line.startswith("-- expect:") and not lines:
            expect.append(line.removeprefix("-- expect:").strip())
        elif name is not None:
            lines.append(line)
    if name is not None:
        entries.append(Entry(name, "\n".join(lines).strip("\n"), tuple(expect)))
    names = [e.name for e in entries]
    duplicates = {n for n in names if names.count(n) > 1}
    assert not duplicates, f"duplicate corpus names in {filename}: {sorted(duplicates)}"
    return entries


def load_fixture_pairs(filename: str) -> list[tuple[str, str, str]]:
    """(title, input, expected) triples of a fixture file."""
    triples: list[tuple[str, str, str]] = []
    lines = [text for text in (FIXTURES / filename).read_text(encoding="utf-8").splitlines() if text.strip()]
    for index, line in enumerate(lines):
        if line.startswith("-- title:"):
            title = line.removeprefix("-- title:").strip()
            triples.append((title, lines[index + 1], lines[index + 2]))
    return triples
