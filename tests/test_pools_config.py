"""Pool settings (app/pools/config.py): defaults, YAML, environment overrides, errors naming the key."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.config import PoolSettings, Settings
from app.errors.configuration import ConfigurationError
from app.pools import PerOrgLimits, PoolConfig

URL = "postgresql://app@db.example/atlas"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "pools.md"


def load_pool_config(path: Path | None = None, *, env: dict[str, str], default_url: str | None = None) -> PoolConfig:
    """The layout Settings.from_env resolves (atlas.yaml at ATLAS_CONFIG, then the variables), validated."""
    settings = Settings.from_env({**env, **({"ATLAS_CONFIG": str(path)} if path else {})})
    return PoolConfig.from_mapping(settings.pool_layout, default_url=default_url or settings.database.app_database_url)


def test_defaults_are_the_documented_ones():
    config = PoolConfig.from_mapping({"pool": {"perOrg": {}}}, default_url=URL)
    assert config.per_org == PerOrgLimits(max_connections=5, idle_timeout_ms=30_000, max_orgs=50,
                                          warmup_probes=2, drain_threshold=5)
    assert config.max_total_connections == 100
    assert config.datasources == {"default": URL}


def test_without_per_org_every_org_shares_the_base_pool():
    assert PoolConfig.from_mapping({}, default_url=URL).per_org is None


def test_yaml_file_then_environment_overrides(tmp_path):
    path = tmp_path / "atlas.yaml"
    path.write_text(
        "datasources:\n  default: {url: 'postgresql://a@h/db'}\n  reporting: {url: 'postgresql://r@h/db'}\n"
        "pool:\n  mode: dedicated\n  perOrg: {maxConnections: 3, maxOrgs: 20}\nmaxTotalConnections: 90\n"
        "cache: {ttl: 5}\n")
    config = load_pool_config(path, env={})
    assert (config.mode, config.max_total_connections) == ("dedicated", 90)
    assert config.per_org == PerOrgLimits(max_connections=3, max_orgs=20)
    assert set(config.datasources) == {"default", "reporting"}
    env = {"ATLAS_POOL_MODE": "shared", "ATLAS_MAX_TOTAL_CONNECTIONS": "60",
           "ATLAS_POOL_PER_ORG_MAX_ORGS": "7", "ATLAS_DATASOURCE_URL": "postgresql://b@h/db",
           "ATLAS_POOL_TIMEOUT_S": "2.5"}
    overridden = load_pool_config(path, env=env)
    assert (overridden.mode, overridden.max_total_connections) == ("shared", 60)
    assert overridden.per_org == PerOrgLimits(max_connections=3, max_orgs=7)
    assert overridden.datasources["default"] == "postgresql://b@h/db"
    assert overridden.timeout_ms == 2500
    assert load_pool_config(path, env={"ATLAS_POOL_PER_ORG": "off"}).per_org is None


def test_per_org_env_variables_turn_limits_on_without_a_file(tmp_path):
    env = {"ATLAS_CONFIG": str(tmp_path / "absent.yaml"), "ATLAS_POOL_PER_ORG_DRAIN_THRESHOLD": "9"}
    config = load_pool_config(env=env, default_url=URL)
    assert config.per_org == PerOrgLimits(drain_threshold=9)


@pytest.mark.parametrize("values, key", [
    ({"pool": {"perOrg": {"maxConnections": 0}}}, "pool.perOrg.maxConnections"),
    ({"pool": {"perOrg": {"maxOrgs": "many"}}}, "pool.perOrg.maxOrgs"),
    ({"pool": {"perOrg": {"drainThreshold": True}}}, "pool.perOrg.drainThreshold"),
    ({"pool": {"perOrg": {"warmupProbes": -1}}}, "pool.perOrg.warmupProbes"),
    ({"pool": {"perOrg": {"maxConnection": 3}}}, "pool.perOrg.maxConnection"),
    ({"pool": {"perOrg": []}}, "pool.perOrg"),
    ({"pool": {"mode": "pooled"}}, "pool.mode"),
    ({"pool": {"timeoutMs": 0}}, "pool.timeoutMs"),
    ({"pool": {"base": {"minConnections": 4, "maxConnections": 2}}}, "pool.base.minConnections"),
    ({"maxTotalConnections": 0}, "maxTotalConnections"),
    ({"datasources": {"default": {}}}, "datasources.default.url"),
    ({"datasources": {"bad name": {"url": URL}}}, "datasources.bad name"),
])
def test_invalid_settings_name_the_key(values, key):
    with pytest.raises(ConfigurationError) as caught:
        PoolConfig.from_mapping(values, default_url=URL)
    assert key in caught.value.message


def test_a_cap_too_small_for_one_org_pool_is_refused():
    values = {"pool": {"mode": "dedicated", "perOrg": {"maxConnections": 5}, "base": {"maxConnections": 10}},
              "maxTotalConnections": 14}
    with pytest.raises(ConfigurationError, match="maxTotalConnections"):
        PoolConfig.from_mapping(values, default_url=URL)
    values["pool"]["mode"] = "shared"  # shared: the base pool is the only pool, sized by the cap
    assert PoolConfig.from_mapping(values, default_url=URL).shared_pool_size == 14
    values["maxTotalConnections"] = 4
    with pytest.raises(ConfigurationError, match="pool.perOrg.maxConnections"):
        PoolConfig.from_mapping(values, default_url=URL)


def test_no_datasource_at_all_is_refused():
    with pytest.raises(ConfigurationError, match="datasources.default.url"):
        PoolConfig.from_mapping({})


@pytest.mark.parametrize("name", sorted(variable for _, variable, _ in PoolSettings.variables()))
def test_every_environment_override_is_documented(name):
    assert name in DOCS.read_text()
