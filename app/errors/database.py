"""The database, or the door to it, refused or is away; the 503s are worth retrying shortly."""
from __future__ import annotations

from app.errors import AtlasError, ServiceUnavailableError


class MissingOrgError(AtlasError):
    """Tenant data was asked for without an org: refused before any SQL is sent."""

    code = "missing_org"


class MigrationError(AtlasError):
    """A migration could not be applied, or an applied file was edited."""

    code = "migration_error"


class PoolCapacityExceededError(ServiceUnavailableError):
    """No org pool slot or connection capacity came free in time; the message names the settings
    that decide how many orgs fit at once (pool.perOrg.maxConnections, maxOrgs, maxTotalConnections)."""

    code = "pool_capacity_exceeded"


class DatabaseUnavailableError(ServiceUnavailableError):
    """The database cannot be reached (down, restarting, refusing connections): not a pool-size problem."""

    code = "database_unavailable"


class DatabaseReadOnlyError(DatabaseUnavailableError):
    """A write reached a server that takes none (a standby: a failover is under way); retry (app/failover)."""

    code = "database_read_only"


class ReplicaUnavailableError(ServiceUnavailableError):
    """The agent replica cannot run the query (unreachable, too far behind, or a recovery conflict)."""

    code = "agent_replica_unavailable"

    def __init__(self, message: str, *, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, int(retry_after_s))


class DatabaseTimeoutError(ServiceUnavailableError):
    """The database did not answer a read in time (app/db/wire.py): the connection was closed, retry."""

    code = "database_timeout"


class OrgMovingError(ServiceUnavailableError):
    """The org's writes are held while `atlas org move` switches its database; retry shortly."""

    code = "org_moving"
    retry_after_s = 1
