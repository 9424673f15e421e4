"""Settings: the environment is read in one place, and every variable it reads is documented."""
from __future__ import annotations

import pathlib
import re

import pytest

from app.config import ENVIRONMENT, Settings
from app.errors import ConfigurationError
from app.pools.config import ENV_OVERRIDES, PoolConfig

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXTRA_VARIABLES = ("DATABASE_URL", "ATLAS_CONFIG", "ATLAS_POOL_PER_ORG")


def _documented_variables() -> set[str]:
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", (ROOT / "docs" / "configuration.md").read_text()))


@pytest.mark.parametrize("name", sorted({v.name for v in ENVIRONMENT} | set(ENV_OVERRIDES) | set(EXTRA_VARIABLES)))
def test_every_environment_variable_is_documented_in_the_configuration_page(name):
    assert name in _documented_variables()


def test_only_the_settings_module_reads_the_environment():
    # A read: os.getenv, os.environ.get/copy/items, `in os.environ`, os.environ[...] not being assigned.
    read = re.compile(r"getenv\(|os\.environ\.(get|copy|items|keys|values)\b|in os\.environ\b"
                      r"|os\.environ\[[^\]]+\](?!\s*=[^=])|=\s*os\.environ\b|\(os\.environ\b")
    # app/devdb (the local-PostgreSQL toolkit of the demo, tests and scripts) picks a server before any
    # settings exist; the service never imports it (tests/test_devdb.py).
    readers = [str(path.relative_to(ROOT)) for path in (ROOT / "app").rglob("*.py") if "devdb" not in path.parts
               if any(read.search(line) for line in path.read_text().splitlines() if "import" not in line)]
    assert readers == ["app/config.py"]


def test_from_env_reads_the_declared_variables_into_settings_and_app_config(tmp_path):
    settings = Settings.from_env({
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/shop",
        "ATLAS_POOL_MAX_SIZE": "7",
        "ATLAS_SESSION_TTL_S": "3600",
        "ATLAS_CACHE_BACKEND": "none",
        "ATLAS_CONFIG": str(tmp_path / "absent.yaml"),
        "ATLAS_POOL_PER_ORG_MAX_CONNECTIONS": "3",
    })
    assert settings.pool_max_size == 7 and settings.roles.app == "shop_app"
    assert settings.extra["session_ttl_s"] == 3600 and settings.extra["cache_backend"] == "none"
    pools = settings.extra["pools"]
    assert isinstance(pools, PoolConfig) and pools.per_org is not None and pools.per_org.max_connections == 3


def test_a_malformed_variable_is_named_in_the_error():
    with pytest.raises(ConfigurationError, match="ATLAS_SESSION_TTL_S is not a valid int"):
        Settings.from_env({"ATLAS_SESSION_TTL_S": "a week"})


# App config keys that are not settings: objects create_app and the tests hand over.
INTERNAL_CONFIG_KEYS = {"ATLAS_SETTINGS", "POOLS", "TESTING"}


def test_every_app_config_key_the_code_reads_has_an_environment_variable():
    """A key read from app.config that no variable fills could only be set by tests, never by an operator."""
    keys = set()
    for path in (ROOT / "app").rglob("*.py"):
        text = path.read_text()
        keys |= set(re.findall(r"config(?:\.get\(|\[)['\"]([A-Z][A-Z0-9_]+)['\"]", text))
        for block in re.findall(r"def from_config\(.*?\n(?:    .*\n|\n)+", text):
            keys |= set(re.findall(r"['\"]([A-Z][A-Z0-9_]{3,})['\"]", block))
    declared = {variable.key.upper() for variable in ENVIRONMENT}
    assert sorted(keys - declared - INTERNAL_CONFIG_KEYS) == []
