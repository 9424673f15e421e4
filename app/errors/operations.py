"""Jobs (app/jobs) and the operator's commands (`atlas org move|restore|export`, `atlas backup`)."""
from __future__ import annotations

from app.errors import AtlasError, ConflictError


class MoveError(AtlasError):
    """`atlas org move` cannot go on (a check failed); the org is still served from where it was."""

    code = "move_error"


class JobStateError(ConflictError):
    """The job is not in a state that allows this (cancel a finished job, retry a queued one)."""

    code = "job_state_conflict"


class JobStoppedError(AtlasError):
    """A running job lost its lease or was canceled: the worker (app/jobs) stops it at its next progress
    report or heartbeat and writes nothing more."""

    code = "job_stopped"


class BackupError(AtlasError):
    """`atlas backup` cannot go on: pgBackRest is missing, misconfigured or failed; the message says what to fix."""

    code = "backup_error"


class RestoreError(AtlasError):
    """`atlas org restore` cannot go on (bad time, no backup, a check failed); the live org is unchanged."""

    code = "restore_error"


class OrgDataError(AtlasError):
    """`atlas org export|import|delete` refused the input (a bad archive, a clash); nothing was written."""

    code = "org_data_error"
