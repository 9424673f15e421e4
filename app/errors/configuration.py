"""A setting is missing or malformed: the message names the setting to set."""
from __future__ import annotations

from app.errors import AtlasError


class ConfigurationError(AtlasError):
    """A setting is missing or malformed; the message names the setting."""

    code = "configuration_error"


class ConnectionsConfigurationError(ConfigurationError):
    """Org connections cannot work on this server as configured (no key, an unusable environment); names the setting.

    503 rather than a generic 500: the answer tells the org's admin what the operator must set."""

    status = 503


class AgentNotConfiguredError(AtlasError):
    """Ask needs a model server: ATLAS_AGENT_BASE_URL and ATLAS_AGENT_MODEL are not set (SQL mode still works)."""

    status = 409
    code = "agent_not_configured"


class SsoConfigurationError(ConfigurationError):
    """SSO cannot run: ATLAS_CONNECTION_KEYS (to encrypt client secrets) is not set."""

    code = "sso_not_configured"
    status = 503
