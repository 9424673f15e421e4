"""`atlas init`: profiles under the org's RLS context, never another org's values."""
from __future__ import annotations

import uuid

import psycopg
import pytest
import yaml

from app.cli import main
from tests.support import rows

CRM = ["accounts", "activities", "contacts", "knowledge_files", "leads", "notes", "opportunities",
       "projects", "sites"]
# Distinctive values: each org's appear in its own rows only, several times (low cardinality).
VALUES = {
    "Alpha": {"industry": "alphaindustry-zeta", "company": "alphacorp-kappa", "city": "alphaville-rho"},
    "Bravo": {"industry": "bravoindustry-quux", "company": "bravocorp-sigma", "city": "bravotown-tau"},
}


@pytest.fixture(scope="module")
def world(db_factory):
    db = db_factory.clone()
    orgs = {}
    with psycopg.connect(db.admin_url, autocommit=True) as conn:
        for name, values in VALUES.items():
            org = orgs[name] = rows.make_org(conn, name)
            for _ in range(4 if name == "Alpha" else 7):
                rows.insert_row(conn, "accounts", org, industry=values["industry"])
                rows.insert_row(conn, "leads", org, company=values["company"], status="qualified")
                rows.insert_row(conn, "sites", org, city=values["city"], country="DE")
    yield db, orgs
    db_factory.drop(db.name)


@pytest.fixture
def env(world, db_factory, monkeypatch, tmp_path):
    db, _ = world
    monkeypatch.setenv("DATABASE_URL", db.admin_url)
    monkeypatch.setenv("ATLAS_ROLE_PREFIX", db_factory.prefix)
    monkeypatch.setenv("ATLAS_APP_DATABASE_URL", db.app_url)
    monkeypatch.setenv("ATLAS_SEMANTIC_ROOT", str(tmp_path / "semantic"))
    monkeypatch.delenv("ATLAS_ORG_ID", raising=False)
    return tmp_path / "semantic"


def every_file(root) -> str:
    return "\n".join(p.read_text() for p in sorted(root.rglob("*")) if p.is_file())


def imported(world, org: uuid.UUID) -> dict[str, str]:
    with psycopg.connect(world[0].admin_url) as conn:
        found = conn.execute("SELECT name, yaml_content FROM semantic_entities WHERE org_id = %s", (org,))
        return dict(found.fetchall())


def run(*argv: str) -> int:
    return main(["init", *argv])


def test_init_for_an_org_contains_its_values_and_never_another_orgs(world, env, capsys):
    _, orgs = world
    assert run("--org", str(orgs["Alpha"])) == 0
    out = capsys.readouterr()
    assert "9/9" in out.err and "imported 9 entities" in out.out
    on_disk = every_file(env)
    in_db = "\n".join(imported(world, orgs["Alpha"]).values())
    for text in (on_disk, in_db, out.out, out.err):
        for value in VALUES["Bravo"].values():
            assert value not in text
    for value in VALUES["Alpha"].values():
        assert value in on_disk and value in in_db
    accounts = yaml.safe_load((env / ".orgs" / str(orgs["Alpha"]) / "entities" / "accounts.yml").read_text())
    assert accounts["row_count"] == 4
    assert "org_id" not in {d["name"] for d in accounts["dimensions"]}
    assert imported(world, orgs["Bravo"]) == {}
    with psycopg.connect(world[0].admin_url) as conn:
        trail = conn.execute("SELECT count(*) FROM audit_log WHERE org_id = %s AND action = "
                             "'semantic_entity.upsert' AND detail->>'source' = 'atlas init'",
                             (orgs["Alpha"],)).fetchone()[0]
    assert trail == 9


def test_the_other_org_gets_its_own_values(world, env):
    _, orgs = world
    assert run("--org", str(orgs["Bravo"]), "--tables", "accounts", "leads") == 0
    stored = imported(world, orgs["Bravo"])
    assert sorted(stored) == ["accounts", "leads"]
    assert "bravoindustry-quux" in stored["accounts"] and "alpha" not in "".join(stored.values())
    assert yaml.safe_load(stored["leads"])["row_count"] == 7


def test_atlas_org_id_stands_for_the_flag_and_no_import_writes_files_only(world, env, monkeypatch, capsys):
    db, _ = world
    with psycopg.connect(db.admin_url, autocommit=True) as conn:
        org = rows.make_org(conn, "Charlie")
    monkeypatch.setenv("ATLAS_ORG_ID", str(org))
    assert run("--no-import", "--tables", "sites") == 0
    assert "not imported" in capsys.readouterr().out
    assert (env / ".orgs" / str(org) / "entities" / "sites.yml").exists()
    assert imported(world, org) == {}


def test_init_without_an_org_profiles_structure_only(world, env):
    assert run() == 0
    files = sorted(p.name for p in (env / "entities").glob("*.yml"))
    assert files == [f"{t}.yml" for t in CRM]
    text = every_file(env)
    for values in VALUES.values():
        for value in values.values():
            assert value not in text
    leads = yaml.safe_load((env / "entities" / "leads.yml").read_text())
    assert "row_count" not in leads
    status = next(d for d in leads["dimensions"] if d["name"] == "status")
    assert status["sample_values"] == ["new", "contacted", "qualified", "disqualified", "converted"]
    contacts = yaml.safe_load((env / "entities" / "contacts.yml").read_text())
    assert {"target_entity": "accounts", "relationship": "many_to_one",
            "join_columns": {"from": "account_id", "to": "id"}}.items() <= contacts["joins"][0].items()
    assert not (env / ".orgs").exists()


def test_unreachable_database_is_a_clear_error_and_writes_nothing(env, monkeypatch, capsys):
    monkeypatch.setenv("ATLAS_APP_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/atlas")
    assert run("--org", str(uuid.uuid4())) == 1
    err = capsys.readouterr().err
    assert "cannot reach the internal database at 127.0.0.1:1/atlas" in err and "Nothing was written" in err
    assert not env.exists()


def test_missing_database_url_says_no_internal_database(env, monkeypatch, capsys):
    monkeypatch.delenv("DATABASE_URL")
    assert run() == 1
    assert "No internal database configured" in capsys.readouterr().err
    assert not env.exists()


@pytest.mark.parametrize(("argv", "message"), [
    (("--org", "not-a-uuid"), "no organization has id or slug 'not-a-uuid'"),
    (("--org", "00000000-0000-4000-8000-000000000000"), "does not exist"),
    (("--tables", "accounts", "users"), "unknown or unreadable tables: users"),
    (("--tables", "semantic_entities"), "unknown or unreadable tables: semantic_entities"),
])
def test_bad_arguments_fail_before_writing(world, env, capsys, argv, message):
    assert run(*argv) == 1
    assert message in capsys.readouterr().err
    assert not env.exists()


def test_init_takes_an_org_slug_like_every_other_command(world, env):
    db, orgs = world
    with psycopg.connect(db.admin_url) as conn:
        slug = conn.execute("SELECT slug FROM organizations WHERE id = %s", (orgs["Bravo"],)).fetchone()[0]
    assert run("--org", slug, "--tables", "sites") == 0
    stored = imported(world, orgs["Bravo"])
    assert "bravotown-tau" in stored["sites"] and "alphaville" not in stored["sites"]


def test_every_command_has_help(capsys):
    assert main(["--help"]) == 0
    listing = capsys.readouterr().out
    for command in ("init", "migrate", "query", "serve"):
        assert command in listing
        assert main([command, "--help"]) == 0
        assert "Usage: atlas " + command in capsys.readouterr().out
