"""The migration runner: ordered, recorded, idempotent, and strict about edits."""
from __future__ import annotations

import shutil
import threading

import psycopg
import pytest

from app import cli
from app.db.migrate import SQL_DIR, discover, migrate, pending
from app.errors.database import MigrationError


def _applied(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT filename FROM atlas_meta.schema_migrations ORDER BY version")]


def test_migrate_applies_every_file_in_order_then_nothing(empty_db):
    first = migrate(empty_db.admin_url, roles=empty_db.roles)
    assert first == [m.path.name for m in discover()]
    assert _applied(empty_db.admin_url) == first
    assert migrate(empty_db.admin_url, roles=empty_db.roles) == []
    assert pending(empty_db.admin_url) == []


def test_migrate_refuses_an_applied_file_that_was_edited(empty_db, tmp_path):
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    migrate(empty_db.admin_url, roles=empty_db.roles, sql_dir=sql_dir)
    edited = sql_dir / "003_crm.sql"
    edited.write_text(edited.read_text() + "\n-- a harmless-looking edit\n")
    with pytest.raises(MigrationError, match="003_crm.sql was edited after it was applied"):
        migrate(empty_db.admin_url, roles=empty_db.roles, sql_dir=sql_dir)


def test_a_failing_migration_leaves_no_trace(empty_db, tmp_path):
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    (sql_dir / "900_broken.sql").write_text(
        "CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;\n")
    with pytest.raises(MigrationError, match="900_broken.sql failed"):
        migrate(empty_db.admin_url, roles=empty_db.roles, sql_dir=sql_dir)
    assert "900_broken.sql" not in _applied(empty_db.admin_url)
    with psycopg.connect(empty_db.admin_url) as conn:
        assert conn.execute("SELECT to_regclass('half_done')").fetchone()[0] is None


@pytest.mark.parametrize("name", ["5_short.sql", "005-dash.sql", "005_Upper.sql"])
def test_misnamed_migration_files_are_refused(tmp_path, name):
    (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNN_lowercase_name"):
        discover(tmp_path)


def test_two_files_with_one_version_are_refused(tmp_path):
    (tmp_path / "001_a.sql").write_text("SELECT 1;")
    (tmp_path / "001_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="share version 001"):
        discover(tmp_path)


def test_unknown_variables_are_refused_and_casts_are_not_variables(empty_db, tmp_path):
    (tmp_path / "001_cast.sql").write_text("SELECT 'a'::\"char\";\n")
    assert migrate(empty_db.admin_url, roles=empty_db.roles, sql_dir=tmp_path) == ["001_cast.sql"]
    (tmp_path / "002_unknown.sql").write_text('GRANT SELECT ON organizations TO :"nobody_role";\n')
    with pytest.raises(MigrationError, match="unknown migration variable 'nobody_role'"):
        migrate(empty_db.admin_url, roles=empty_db.roles, sql_dir=tmp_path)


def test_concurrent_migrations_apply_each_file_once(empty_db):
    results: list[object] = []

    def run() -> None:
        try:
            results.append(migrate(empty_db.admin_url, roles=empty_db.roles))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r) for r in results) == [0, len(discover())]  # type: ignore[arg-type]


def test_atlas_migrate_command_applies_and_reports(empty_db, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", empty_db.admin_url)
    monkeypatch.setenv("ATLAS_ROLE_PREFIX", empty_db.roles.owner.removesuffix("_owner"))
    assert cli.main(["migrate", "--status"]) == 0
    assert "001_roles.sql" in capsys.readouterr().out
    assert cli.main(["migrate"]) == 0
    assert "applied 020_policies.sql" in capsys.readouterr().out
    assert cli.main(["migrate"]) == 0
    assert capsys.readouterr().out.strip() == "up to date"
