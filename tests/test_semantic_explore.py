"""The explore tool: ls/cat/grep inside one layer; every way out is an attack that must fail."""
from __future__ import annotations

import os
import time

import psycopg
import pytest

from app.db import Database
from app.errors import NotFoundError, ValidationError
from app.errors.database import MissingOrgError
from app.semantic import SemanticLayer
from app.semantic import explore as ex
from app.semantic.sync import org_layer_dir
from tests.support import rows

SECRET = "bravo-secret-7f3a"  # only ever in org B's layer and in files outside every layer


def entity(table: str, description: str) -> str:
    return f"table: {table}\ndescription: {description}\ndimensions:\n  - name: id\n    sql: id\n    type: uuid\n"


@pytest.fixture(scope="module")
def world(db_factory, tmp_path_factory):
    db = db_factory.clone()
    with psycopg.connect(db.admin_url, autocommit=True) as conn:
        org_a, org_b = rows.make_org(conn, "Alpha"), rows.make_org(conn, "Bravo")
    database = Database(db.app_url, max_size=2).open()
    root = tmp_path_factory.mktemp("explore") / "semantic"
    (root / "entities").mkdir(parents=True)
    (root / "entities" / "accounts.yml").write_text(entity("accounts", "default accounts"))
    (root / "README.md").write_text("default layer readme\n")
    (root.parent / "outside.txt").write_text(SECRET)
    layer = SemanticLayer(database, root=root)
    layer.put(org_a, "accounts", entity("accounts", "alpha accounts"))
    layer.put(org_b, "secret", entity("leads", SECRET))
    a_entities = org_layer_dir(root, org_a) / "entities"
    os.symlink(org_layer_dir(root, org_b) / "entities" / "secret.yml", a_entities / "link_to_b.yml")
    os.symlink(org_layer_dir(root, org_b) / "entities", org_layer_dir(root, org_a) / "linkdir")
    os.symlink(root.parent / "outside.txt", root / "entities" / "outside.yml")
    os.mkfifo(root / "entities" / "pipe.yml")
    yield layer, org_a, org_b
    database.close()
    db_factory.drop(db.name)


def no_secret(result: object) -> None:
    assert SECRET not in repr(result)


ATTACKS = {
    "parent-to-other-org": "../{b}/entities/secret.yml",
    "double-parent": "../../entities/accounts.yml",
    "absolute": "/etc/passwd",
    "absolute-into-other-org": "{root}/.orgs/{b}/entities/secret.yml",
    "inner-parent": "entities/../../{b}/entities/secret.yml",
    "trailing-parents": "entities/accounts.yml/../../..",
    "dot-parent-mix": "entities/./../..",
    "bare-parent": "..",
    "urlencoded-slash": "..%2f..%2fetc%2fpasswd",
    "urlencoded-dots": "%2e%2e/%2e%2e/{b}/entities/secret.yml",
    "double-urlencoded": "%252e%252e/secret.yml",
    "backslashes": "..\\..\\{b}\\entities\\secret.yml",
    "unc-path": "\\\\server\\share\\secret.yml",
    "windows-drive": "C:\\Windows\\win.ini",
    "nul-byte": "entities/accounts.yml\x00../../{b}/entities/secret.yml",
    "newline": "entities\n../../{b}",
    "hidden-orgs-dir": ".orgs/{b}/entities/secret.yml",
    "hidden-manifest": ".manifest.json",
    "hidden-lock": ".lock",
    "four-dots": "..../{b}",
    "home": "~/.ssh/id_rsa",
    "file-url": "file:///etc/passwd",
    "fullwidth-dots": "\uff0e\uff0e/{b}/entities/secret.yml",
    "fullwidth-slash": "..\uff0f{b}",
    "unicode-name": "entities/\u0430ccounts.yml",
    "empty-component": "entities//secret.yml",
    "symlinked-file": "entities/link_to_b.yml",
    "symlinked-dir": "linkdir/secret.yml",
    "too-long": "entities/" + "a/" * 300 + "x.yml",
    "space-dots": ". ./. ./{b}",
}


@pytest.mark.parametrize("command", ["cat", "ls", "grep"])
@pytest.mark.parametrize("attack", sorted(ATTACKS), ids=sorted(ATTACKS))
def test_traversal_attempts_are_refused_in_an_org_layer(world, attack, command):
    layer, org_a, org_b = world
    path = ATTACKS[attack].format(b=org_b, root=layer.root)
    with pytest.raises((ValidationError, NotFoundError)) as caught:
        layer.explore(command, path, "secret", org_id=org_a)
    no_secret(caught.value.message)


@pytest.mark.parametrize("attack", ["hidden-orgs-dir", "parent-to-other-org", "absolute-into-other-org",
                                    "symlinked-file", "urlencoded-dots"])
def test_traversal_attempts_are_refused_in_the_default_layer(world, attack):
    layer, _, org_b = world
    path = ATTACKS[attack].format(b=org_b, root=layer.root)
    with pytest.raises((ValidationError, NotFoundError)):
        layer.explore("cat", path, org_id=None)


def test_symlinks_and_fifos_are_never_read_or_listed(world):
    layer, org_a, _ = world
    with pytest.raises(ValidationError, match="symbolic links"):
        layer.explore("cat", "entities/outside.yml")
    with pytest.raises(ValidationError, match="regular files"):
        layer.explore("cat", "entities/pipe.yml")
    listing = layer.explore("ls", "entities", org_id=org_a)
    assert [e["name"] for e in listing["entries"]] == ["accounts.yml"]
    assert [e["name"] for e in layer.explore("ls", "", org_id=org_a)["entries"]] == ["entities"]


def test_org_layer_lists_reads_and_greps_only_its_own_entities(world):
    layer, org_a, org_b = world
    assert "alpha accounts" in layer.explore("cat", "entities/accounts.yml", org_id=org_a)["content"]
    found = layer.explore("grep", "", "accounts", org_id=org_a)
    assert {m["path"] for m in found["matches"]} == {"entities/accounts.yml"}
    no_secret(layer.explore("grep", "", ".", org_id=org_a, regex=True))
    with pytest.raises(NotFoundError):
        layer.explore("cat", "entities/secret.yml", org_id=org_a)
    assert SECRET in layer.explore("cat", "entities/secret.yml", org_id=org_b)["content"]


def test_default_layer_hides_the_org_directories(world):
    layer, _, _ = world
    names = [e["name"] for e in layer.explore("ls", ".")["entries"]]
    assert names == ["entities", "README.md"]
    no_secret(layer.explore("grep", "", "secret|bravo", regex=True))


def test_grep_plain_pattern_is_literal_and_case_insensitive(world):
    layer, _, _ = world
    assert layer.explore("grep", "entities", "DEFAULT ACCOUNTS")["matches"][0]["line"] == 2
    assert layer.explore("grep", "entities", "d.fault")["matches"] == []
    assert layer.explore("grep", "entities", "d.fault", regex=True)["matches"]


@pytest.mark.parametrize("pattern", ["(a+)+$", "(a|aa)+$", "(x+x+)+y", "(.*a){12}x"])
def test_catastrophic_regexes_run_in_linear_time(tmp_path, pattern):
    (tmp_path / "entities").mkdir()
    (tmp_path / "entities" / "big.yml").write_text(("a" * 1999 + "!\n") * 300 + "x" * 1999 + "\n")
    started = time.perf_counter()
    result = ex.explore(tmp_path, "grep", "", pattern, regex=True)
    assert time.perf_counter() - started < 2.0
    assert result["matches"] == []


@pytest.mark.parametrize(("pattern", "regex", "reason"), [
    ("x" * 201, False, "longer than 200"),
    ("", False, "non-empty"),
    ("(unclosed", True, "not a valid RE2"),
    ("(?<=a)b", True, "not a valid RE2"),
    ("a{1000}{1000}", True, "not a valid RE2"),
    ("a\x00b", False, "NUL"),
])
def test_bad_grep_patterns_are_refused(tmp_path, pattern, regex, reason):
    (tmp_path / "entities").mkdir()
    with pytest.raises(ValidationError, match=reason):
        ex.explore(tmp_path, "grep", "", pattern, regex=regex)


def test_caps_on_file_size_and_matches(tmp_path):
    (tmp_path / "entities").mkdir()
    (tmp_path / "entities" / "huge.yml").write_bytes(b"match\n" * (ex.MAX_FILE_BYTES // 6 + 10))
    (tmp_path / "entities" / "many.yml").write_text("match\n" * (ex.MAX_MATCHES + 50))
    with pytest.raises(ValidationError, match="larger than"):
        ex.explore(tmp_path, "cat", "entities/huge.yml")
    result = ex.explore(tmp_path, "grep", "", "match")
    assert len(result["matches"]) == ex.MAX_MATCHES and result["truncated"]
    assert {m["path"] for m in result["matches"]} == {"entities/many.yml"}


def test_unknown_command_is_refused(tmp_path):
    with pytest.raises(ValidationError, match="command"):
        ex.explore(tmp_path, "rm", "entities")


@pytest.mark.parametrize("org_id", ["../../etc", " ", "not-a-uuid", "{b}/../{b}", "{b}\x00"])
def test_an_org_id_that_does_not_parse_never_reaches_the_filesystem(world, org_id):
    layer, org_a, org_b = world
    with pytest.raises(MissingOrgError):
        layer.explore("ls", "", org_id=org_id.format(b=org_b))
    assert sorted(os.listdir(layer.root / ".orgs")) == sorted([str(org_a), str(org_b)])
