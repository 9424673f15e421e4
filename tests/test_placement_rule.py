"""The placement rule (docs/placement.md), enforced over every table and every lookup path.

Every lookup of a placed table goes through the placement router; control-plane
tables live in the shared database alone. Both lists come from the catalog, so a
table added by a later migration must be classified in docs/placement.md, and the
walk below reads every function of app/: a function that opens a connection
outside the router (psycopg.connect, a base or org-less connection, a session,
identity or platform transaction) may touch control-plane tables only, unless it
is one of the reviewed exceptions in SHARED_DOORS_ALLOWED, each with its reason.
A new raw lookup of a placed table fails here, naming the function and table.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from app.placement import tables as placement_tables

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "placement.md"

# Calls that reach the shared database (or a database named outright), whatever the org's placement.
SHARED_DOORS = frozenset({"connect", "base_connection", "base_read", "session_read", "identity_transaction",
                          "platform_transaction"})
# `x.connection()` without an org is the shared database's base pool (a pool's own; the door's is private).
ORGLESS_CONNECTION = "connection"

# (module, function) -> why its connection outside the router is right. Reviewed; keep each reason true.
SHARED_DOORS_ALLOWED: dict[tuple[str, str], str] = {
    ("app/api/platform_admin.py", "list_organizations"): "every org's job counts in the shared database; a placed "
                                                         "org's replaced by those read where it lives "
                                                         "(platform_reads.read_elsewhere)",
    ("app/api/platform_admin.py", "organization_stats"): "as list_organizations: a placed org's counts are read "
                                                         "in its own database only",
    ("app/semantic/initialize.py", "run_init"): "`atlas init --org` opens the org's own database, named by "
                                                "its placement (org_location)",
}

_TABLE_REF = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE|TABLE)\s+(?:ONLY\s+)?(?:public\.)?\"?([a-z_][a-z0-9_]*)", re.I)
_FUNCTION_REF = re.compile(r"\bapp\.([a-z_][a-z0-9_]*)\s*\(", re.I)


@dataclass(frozen=True)
class Tables:
    placed: frozenset[str]
    control: frozenset[str]
    functions: dict[str, frozenset[str]]  # app.<function> -> the placed tables its body reads


@pytest.fixture(scope="module")
def schema(template_db) -> Tables:
    with psycopg.connect(template_db.admin_url) as conn:
        placed = frozenset(t.name for t in placement_tables.placed_tables(conn, app_role=template_db.roles.app))
        every = {r[0] for r in conn.execute(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')")}
        bodies = conn.execute("SELECT p.proname::text, p.prosrc FROM pg_proc p JOIN pg_namespace n"
                              " ON n.oid = p.pronamespace WHERE n.nspname = 'app'").fetchall()
    functions = {name: frozenset(t for t in placed if re.search(rf"\b{t}\b", body)) for name, body in bodies}
    return Tables(placed=placed, control=frozenset(every - placed), functions=functions)


def documented(section: str) -> set[str]:
    """The table names listed (`name`) in the docs/placement.md section headed `section`."""
    text = DOC.read_text()
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"docs/placement.md has no section '## {section}'"
    return set(re.findall(r"^\s*[-|]\s*`([a-z_][a-z0-9_]*)`", match.group(1), re.M))


def test_every_table_is_classified_in_the_docs(schema: Tables) -> None:
    """A table added by a later migration must be listed as placed or control-plane, as the catalog says."""
    assert documented("Placed tables") == schema.placed
    assert documented("Control-plane tables") == schema.control


# ----- the walk over app/ ---------------------------------------------------------------------
@dataclass(frozen=True)
class Site:
    module: str
    function: str
    line: int
    door: str
    tables: frozenset[str]  # every table the function's SQL names (directly or through app.<function>)


def _strings(node: ast.AST, constants: dict[str, str]) -> Iterator[str]:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            yield sub.value
        elif isinstance(sub, ast.Name) and sub.id in constants:
            yield constants[sub.id]


def _module_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level names bound to SQL text (strings, concatenations, sql.SQL(...))."""
    found: dict[str, str] = {}
    for stmt in tree.body:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            text = " ".join(s.value for s in ast.walk(stmt.value)
                            if isinstance(s, ast.Constant) and isinstance(s.value, str))
            for target in targets:
                if isinstance(target, ast.Name) and text:
                    found[target.id] = text
    return found


def _door(call: ast.Call) -> str | None:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name == "Database" and (call.args or any(k.arg == "conninfo" for k in call.keywords)):
        return "Database(url)"  # a door on one database named outright, without the router
    if name in SHARED_DOORS:
        if name == "connect" and not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                                      and func.value.id == "psycopg"):
            return None
        return name
    if name == ORGLESS_CONNECTION and not call.args and not call.keywords:
        return "connection()"
    return None


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def door_sites(schema: Tables) -> list[Site]:
    sites = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        module = str(path.relative_to(ROOT))
        tree = ast.parse(path.read_text())
        constants = _module_constants(tree)
        for function in _functions(tree):
            doors = [(call.lineno, door) for call in ast.walk(function) if isinstance(call, ast.Call)
                     for door in [_door(call)] if door is not None]
            if not doors:
                continue
            tables: set[str] = set()
            for text in _strings(function, constants):
                tables.update(m.lower() for m in _TABLE_REF.findall(text))
                for fn in _FUNCTION_REF.findall(text):
                    tables.update(schema.functions.get(fn.lower(), ()))
                if text in schema.placed:  # sql.Identifier("jobs")
                    tables.add(text)
            for line, door in doors:
                sites.append(Site(module, function.name, line, door, frozenset(tables)))
    return sites


def _allowed(site: Site) -> bool:
    return (site.module, site.function) in SHARED_DOORS_ALLOWED or (site.module, "*") in SHARED_DOORS_ALLOWED


def test_no_lookup_of_a_placed_table_bypasses_the_router(schema: Tables) -> None:
    """Every connection opened outside the router serves control-plane tables only, or is a reviewed exception."""
    wrong = [f"{s.module}:{s.line} {s.function}() opens {s.door} and reads placed {sorted(s.tables & schema.placed)}"
             for s in door_sites(schema) if s.tables & schema.placed and not _allowed(s)]
    assert not wrong, "lookups of placed tables outside the placement router (docs/placement.md):\n" + "\n".join(wrong)


def test_every_exception_is_needed(schema: Tables) -> None:
    """An exception that no longer opens a connection outside the router to a placed table is dropped, not kept."""
    needed = {(s.module, s.function) for s in door_sites(schema) if s.tables & schema.placed}
    needed |= {(module, "*") for module, _function in needed}
    assert set(SHARED_DOORS_ALLOWED) - needed == set()


def test_the_walk_finds_the_api_key_lookup_of_main(schema: Tables) -> None:
    """The walk is not blind: issue 24's raw lookup (a key read on an org-less connection) is reported."""
    main = ("def lookup(db, token):\n    with db.connection() as conn:\n"
            "        return wire.scoped_read(conn, org, 'SELECT * FROM app.api_key_identity(%(hash)s)')\n")
    tree = ast.parse(main)
    [function] = list(_functions(tree))
    [door] = [_door(c) for c in ast.walk(function) if isinstance(c, ast.Call) and _door(c)]
    tables = {t for text in _strings(function, {}) for fn in _FUNCTION_REF.findall(text)
              for t in schema.functions.get(fn, ())}
    assert door == "connection()" and "api_keys" in tables
