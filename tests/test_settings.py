"""Settings: one typed tree, read once; each variable declared once, documented from its declaration."""
from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

from app.cli import main
from app.config import PoolSettings, Settings, flat_keys
from app.config.markdown import markdown, variables
from app.errors.configuration import ConfigurationError
from app.pools.config import PoolConfig

ROOT = pathlib.Path(__file__).resolve().parent.parent
VARIABLE = re.compile(r"\b(?:ATLAS_[A-Z0-9_]*[A-Z0-9]|DATABASE_URL)\b(?!_)")


def test_docs_configuration_is_generated_from_the_settings_tree():
    """Regenerate with `.venv/bin/atlas settings --markdown > docs/configuration.md`."""
    assert (ROOT / "docs" / "configuration.md").read_text() == markdown()


def test_every_variable_is_declared_once_with_a_description():
    declared = variables()  # raises when two fields claim one variable
    assert "DATABASE_URL" in declared and "ATLAS_CACHE_TTL_S" in declared
    undescribed = [v for v, (group, field) in declared.items() if not group.model_fields[field].description]
    assert undescribed == []


def test_every_variable_named_in_app_is_a_declared_one():
    """A message or a reader naming a variable no field declares is a setting nobody can set (or a typo)."""
    declared = set(variables())
    stray = {f"{path.relative_to(ROOT)}: {name}" for path in (ROOT / "app").rglob("*.py") if "devdb" not in path.parts
             for name in VARIABLE.findall(path.read_text())
             if name not in declared and not name.endswith("_PER_ORG")}
    assert sorted(stray) == []


def test_nothing_outside_the_settings_tree_reads_app_config_or_the_environment():
    read_env = re.compile(r"getenv\(|os\.environ\.(get|copy|items|keys|values)\b|in os\.environ\b"
                          r"|os\.environ\[[^\]]+\](?!\s*=[^=])|=\s*os\.environ\b|\(os\.environ\b")
    read_config = re.compile(r"current_app\.config\b|app\.config\[[^\]]+\](?!\s*=[^=])|\.config\.get\(|\.extra\b")
    env_readers, config_readers = [], []
    for path in (ROOT / "app").rglob("*.py"):
        if "devdb" in path.parts:
            continue  # the toolkit of the demo, tests and scripts picks a server before any settings exist
        lines = [line for line in path.read_text().splitlines() if "import" not in line]
        name = str(path.relative_to(ROOT))
        if any(read_env.search(line) for line in lines):
            env_readers.append(name)
        if any(read_config.search(line) for line in lines):
            config_readers.append(name)
    assert all(name.startswith("app/config/") for name in env_readers), env_readers
    assert config_readers == []


def test_from_env_reads_the_declared_variables_into_their_branches(tmp_path):
    settings = Settings.from_env({
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/shop",
        "ATLAS_POOL_MAX_SIZE": "7",
        "ATLAS_SESSION_TTL_S": "3600",
        "ATLAS_CACHE_BACKEND": "none",
        "ATLAS_TRUSTED_ORIGINS": "https://a.example, https://b.example",
        "ATLAS_CONFIG": str(tmp_path / "absent.yaml"),
        "ATLAS_POOL_PER_ORG_MAX_CONNECTIONS": "3",
    })
    assert settings.pool.max_size == 7 and settings.database.roles.app == "shop_app"
    assert settings.http.session_ttl_s == 3600 and settings.cache.backend == "none"
    assert settings.http.trusted_origins == ("https://a.example", "https://b.example")
    pools = PoolConfig.from_mapping(settings.pool_layout, default_url=settings.database.app_database_url)
    assert pools.per_org is not None and pools.per_org.max_connections == 3 and pools.base_max_connections == 7


def test_a_mapping_takes_each_variable_without_atlas_lower_cased():
    assert flat_keys()["cache_ttl_s"] == ("cache", "ttl_s") and flat_keys()["database_url"] == ("database", "url")
    assert Settings.from_mapping({"cache_ttl_s": 5, "worker_concurrency": 3}).cache.ttl_s == 5.0
    assert Settings.from_mapping({"worker_concurrency": 3}).jobs.concurrency == 3


@pytest.mark.parametrize("env, variable", [
    ({"ATLAS_SESSION_TTL_S": "a week"}, "ATLAS_SESSION_TTL_S"),
    ({"ATLAS_CACHE_MAX_BYTES": "-5"}, "ATLAS_CACHE_MAX_BYTES"),
    ({"ATLAS_DB_PREPARED_STATEMENTS": "sometimes"}, "ATLAS_DB_PREPARED_STATEMENTS"),
    ({"ATLAS_POOL_MIN_SIZE": "5", "ATLAS_POOL_MAX_SIZE": "2"}, "ATLAS_POOL_MIN_SIZE"),
    ({"ATLAS_WORKER_CONCURRENCY": "0"}, "ATLAS_WORKER_CONCURRENCY"),
    ({"ATLAS_METRICS_ORG_LABELS": "maybe"}, "ATLAS_METRICS_ORG_LABELS"),
])
def test_a_malformed_variable_is_named_in_the_error(env, variable):
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env(env)
    assert variable in raised.value.message and raised.value.code == "configuration_error"


def test_every_bad_variable_is_named_at_once():
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({"ATLAS_CACHE_TTL_S": "soon", "ATLAS_JOB_LEASE_S": "0", "ATLAS_COOKIE_SECURE": "perhaps"})
    assert all(name in raised.value.message for name in ("ATLAS_CACHE_TTL_S", "ATLAS_JOB_LEASE_S", "ATLAS_COOKIE_SECURE"))


def test_a_secret_is_named_but_never_echoed():
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({"ATLAS_CURSOR_SECRET": "tiny-secret"})
    assert "ATLAS_CURSOR_SECRET" in raised.value.message and "tiny-secret" not in raised.value.message
    assert "s3cret-key" not in repr(Settings.from_mapping({"agent_api_key": "s3cret-key"}))


def test_an_unknown_key_in_a_mapping_is_refused_not_ignored():
    with pytest.raises(ConfigurationError, match="cache_tll_s"):
        Settings.from_mapping({"cache_tll_s": 5})


def test_every_pool_variable_writes_its_atlas_yaml_key():
    for name, variable, info in PoolSettings.variables():
        extra = info.json_schema_extra
        assert name in ("config", "per_org") or (isinstance(extra, dict) and "layout" in extra), variable


@pytest.mark.parametrize("command", [["serve"], ["worker", "--once"], ["mcp"]])
def test_a_bad_variable_stops_each_server_command_naming_it(command, monkeypatch, capsys):
    monkeypatch.setenv("ATLAS_CACHE_MAX_BYTES", "lots")
    assert main(command) == 1
    assert "ATLAS_CACHE_MAX_BYTES" in capsys.readouterr().err


def test_atlas_serve_refuses_a_bad_allowlist_before_starting_workers():
    """Checked in the master, not in each worker after the fork: one message, exit status 1, no server."""
    env = {**os.environ, "ATLAS_CONNECTION_ALLOWED_HOSTS": "db:notaport"}
    done = subprocess.run([sys.executable, "-m", "app.cli", "serve", "--port", "1"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "ATLAS_CONNECTION_ALLOWED_HOSTS: 'db:notaport'" in done.stderr, done.stderr
