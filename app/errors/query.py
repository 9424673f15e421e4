"""Agent SQL (the gateway), the semantic layer, org connections and the agent's model server."""
from __future__ import annotations

from app.errors import AtlasError, ServiceUnavailableError, ValidationError


class SqlRejectedError(AtlasError):
    """Agent SQL parsed but is not allowed; the message names the offending construct."""

    status = 400
    code = "sql_rejected"


class SqlInvalidError(AtlasError):
    """Agent SQL could not be parsed (or is empty) by both sqlglot and PostgreSQL."""

    status = 400
    code = "sql_invalid"


class QueryTimeoutError(SqlRejectedError):
    """Agent SQL ran past its statement timeout (query.statement_timeout_ms).

    A client error, not 408 (clients and proxies retry 408 automatically) nor
    5xx: the same query would time out again; narrow it or raise the setting.
    """

    code = "query_timeout"


class SemanticLayerInvalidError(AtlasError):
    """The org's stored semantic layer holds an entity that no longer validates; the message names it and
    the repair (PUT or DELETE it). The request is fine and the org's state is not, hence 409."""

    status = 409
    code = "semantic_layer_invalid"


class PlainYamlError(ValidationError):
    """Entity YAML that is not YAML of plain kinds (bad syntax, too deep, or tagged); `line` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class ConnectionHostRefusedError(ValidationError):
    """An org connection names a host the platform does not allow (ATLAS_CONNECTION_ALLOWED_HOSTS)."""

    code = "connection_host_not_allowed"


class ConnectionFailedError(ServiceUnavailableError):
    """An org's own datasource could not be reached or refused the login; the message says why, never the password."""

    code = "connection_failed"


class AgentProviderError(AtlasError):
    """The model server failed or answered something unusable; the message names its address, never its key."""

    status = 502
    code = "agent_provider_error"
