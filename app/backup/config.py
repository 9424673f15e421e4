"""The backup settings as the backup code uses them (from the settings tree's `backup` branch)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.config import Settings


@dataclass(frozen=True)
class BackupConfig:
    config_path: Path  # ATLAS_BACKUP_CONFIG: the pgBackRest config `atlas backup setup` writes
    repo: str  # ATLAS_BACKUP_REPO: repo1-path of a new config (a local path; S3 etc. in the file itself)
    scratch_dir: str  # ATLAS_BACKUP_SCRATCH_DIR: where restores build their scratch cluster ("" = system temp)
    pg_bindir: str  # ATLAS_PG_BINDIR: PostgreSQL binaries ("" = /usr/lib/postgresql/<major>/bin)

    @classmethod
    def from_settings(cls, settings: Settings) -> BackupConfig:
        branch = settings.backup
        return cls(Path(branch.config), branch.repo, branch.scratch_dir, branch.pg_bindir)
