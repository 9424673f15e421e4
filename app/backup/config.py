"""The backup settings, read from the settings tree (app/config.py) once, with defaults and bounds."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.config import Settings
from app.errors import ConfigurationError

DEFAULT_CONFIG = "/etc/pgbackrest/atlas.conf"
DEFAULT_REPO = "/var/lib/pgbackrest"
DAY_S = 86400.0
DEFAULT_GRACE_S = 30 * DAY_S
MAX_GRACE_S = 365 * DAY_S


@dataclass(frozen=True)
class BackupConfig:
    config_path: Path  # ATLAS_BACKUP_CONFIG: the pgBackRest config file `atlas backup setup` writes
    repo: str  # ATLAS_BACKUP_REPO: repo1-path of a new config (a local path; S3 etc. in the file itself)
    scratch_dir: str  # ATLAS_BACKUP_SCRATCH_DIR: where restores build their scratch cluster ("" = system temp)
    pg_bindir: str  # ATLAS_PG_BINDIR: PostgreSQL binaries ("" = /usr/lib/postgresql/<major>/bin)

    @classmethod
    def from_settings(cls, settings: Settings) -> BackupConfig:
        extra = settings.extra
        config_path = str(extra.get("backup_config") or DEFAULT_CONFIG)
        repo = str(extra.get("backup_repo") or DEFAULT_REPO)
        if not Path(config_path).is_absolute():
            raise ConfigurationError(f"ATLAS_BACKUP_CONFIG must be an absolute path, not {config_path!r}")
        if "://" not in repo and not Path(repo).is_absolute():
            raise ConfigurationError(f"ATLAS_BACKUP_REPO must be an absolute path, not {repo!r}")
        return cls(Path(config_path), repo, str(extra.get("backup_scratch_dir") or ""),
                   str(extra.get("pg_bindir") or ""))


def delete_grace_s(settings: Settings) -> float:
    """ATLAS_ORG_DELETE_GRACE_S: how long a deleted org can be brought back before it is purged."""
    raw = settings.extra.get("org_delete_grace_s", DEFAULT_GRACE_S)
    value = float(raw) if isinstance(raw, (int, float, str)) else -1.0
    if not 0 <= value <= MAX_GRACE_S:
        raise ConfigurationError(f"ATLAS_ORG_DELETE_GRACE_S must be between 0 and {MAX_GRACE_S:.0f} seconds")
    return value
