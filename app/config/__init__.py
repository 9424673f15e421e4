"""Settings: one typed tree, read once from the environment (CLI, server) or a mapping (tests).

Nothing deeper in the code reads environment variables: each service is handed its own branch
(`make_cache(settings.cache)`, `SignInThrottle(db, settings.sign_in)`, `services().settings.http`
in views). A bad or missing value raises ConfigurationError naming the variable to fix.

The tree (app/config/tree.py) is a frozen `Settings` of groups; a group (app/config/groups.py,
app/config/work.py) is a frozen pydantic-settings model whose fields are the variables:

    class CacheSettings(Group):
        title = "Query cache"                                   # its heading in docs/configuration.md
        model_config = Group.model_config | {"env_prefix": "ATLAS_CACHE_"}
        ttl_s: float = Field(300.0, gt=0, description="entry lifetime")   # is ATLAS_CACHE_TTL_S

To add a setting: add one field to the group of the service that uses it, with its type, default,
bounds (`ge=`, `le=`, `Literal[...]`, `pattern=`) and a description; its variable is the group's
prefix plus the field name upper-cased (or `validation_alias="ATLAS_..."` when it cannot be). For a
new service, add a group and a field of that type on `Settings`. Then regenerate the manual page,
`.venv/bin/atlas settings --markdown > docs/configuration.md` (tests/test_settings.py fails until it
matches). Tests pass the variable without `ATLAS_`,
lower-cased: `create_app({"cache_ttl_s": 5, ...})` (Settings.from_mapping).
"""
from __future__ import annotations

from app.config.backup import BackupSettings
from app.config.base import CommaList, Group, split_commas
from app.config.groups import (
    DEFAULT_DATABASE_URL,
    DEFAULT_SEMANTIC_ROOT,
    DEFAULT_SESSION_TTL_S,
    CacheSettings,
    CliSettings,
    DatabaseSettings,
    HttpSettings,
    MetricsSettings,
    PasswordSettings,
    PoolSettings,
    SignInSettings,
)
from app.config.roles import (
    MIN_CURSOR_SECRET_BYTES,
    RoleNames,
    conninfo_as,
    default_role_prefix,
    libpq_environment,
    metrics_directory,
    with_session_limits,
)
from app.config.tree import Settings, flat_keys
from app.config.work import (
    AgentSettings,
    ConnectionSettings,
    JobSettings,
    PlacementSettings,
    QueryLimitSettings,
    ReplicaSettings,
    SemanticSettings,
    SsoSettings,
)

__all__ = [
    "DEFAULT_DATABASE_URL", "DEFAULT_SEMANTIC_ROOT", "DEFAULT_SESSION_TTL_S", "MIN_CURSOR_SECRET_BYTES",
    "AgentSettings", "BackupSettings", "CacheSettings", "CliSettings", "CommaList", "ConnectionSettings", "DatabaseSettings", "Group",
    "HttpSettings", "JobSettings", "MetricsSettings", "PasswordSettings", "PlacementSettings", "PoolSettings",
    "QueryLimitSettings", "ReplicaSettings", "RoleNames", "SemanticSettings", "Settings", "SignInSettings", "SsoSettings",
    "conninfo_as", "default_role_prefix", "flat_keys", "libpq_environment", "metrics_directory", "split_commas",
    "with_session_limits",
]
