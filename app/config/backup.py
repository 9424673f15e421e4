"""The settings of backups, point-in-time restores and org deletion (app/backup, app/orgdata, docs/operations.md).

Declared like app/config/groups.py: one field per environment variable, with its type, default,
bounds and description.
"""
from __future__ import annotations

from pathlib import PurePosixPath

from pydantic import Field, field_validator

from app.config.base import Group

DAY_S = 86400.0


class BackupSettings(Group):
    """pgBackRest for every cluster, `atlas org restore`, and the grace period of `atlas org delete`."""

    title = "Backups, restore and deletion"
    model_config = Group.model_config | {"env_prefix": "ATLAS_BACKUP_"}
    config: str = Field(default="/etc/pgbackrest/atlas.conf", description=(
        "the pgBackRest config `atlas backup setup` writes (a stanza per cluster) and every backup and restore "
        "reads; PostgreSQL's user must be able to read it (archive_command)"))
    repo: str = Field(default="/var/lib/pgbackrest", description=(
        "`repo1-path` of a new config; for a repository on another host or in S3 edit the config itself "
        "(docs/operations.md)"))
    scratch_dir: str = Field(default="", description=(
        "where `atlas org restore` restores its scratch cluster (room for one restored cluster; default: the "
        "system's temporary directory)"))
    pg_bindir: str = Field(default="", validation_alias="ATLAS_PG_BINDIR", description=(
        "PostgreSQL binaries of the scratch cluster (default: `/usr/lib/postgresql/<major>/bin`)"))
    org_delete_grace_s: float = Field(default=30 * DAY_S, ge=0, le=365 * DAY_S,
                                      validation_alias="ATLAS_ORG_DELETE_GRACE_S", description=(
        "how long `atlas org delete` keeps an org restorable (`--cancel`) before `atlas org purge` erases it"))

    @field_validator("config", "repo")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if "://" not in value and not PurePosixPath(value).is_absolute():
            raise ValueError(f"must be an absolute path, not {value!r}")
        return value
