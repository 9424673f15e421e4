"""What a running job sees: its own row, its org and actor, the app's services, and a way to report progress."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.config import JobSettings

if TYPE_CHECKING:
    from app.services import AtlasServices

Reporter = Callable[[int, "int | None", str], None]


@dataclass(frozen=True)
class JobContext:
    """One claimed job. Every read and write goes through services.db in `org_id`'s transaction.

    `actor_user_id` is the job's creator (the API key's creator when a key enqueued it):
    the audit trail names them for everything the job does; `actor_role` is their role now.
    """

    job: dict[str, Any]
    org_id: uuid.UUID
    actor_user_id: uuid.UUID
    actor_role: str
    services: AtlasServices
    config: JobSettings
    reporter: Reporter

    @property
    def payload(self) -> dict[str, Any]:
        return dict(self.job["payload"] or {})

    def progress(self, done: int, total: int | None = None, message: str = "") -> None:
        """Record progress (and renew the lease); raises JobStoppedError if the job was canceled or lost."""
        self.reporter(done, total, message)

    def audit_detail(self) -> dict[str, Any]:
        """What every audit entry written for this job says about it."""
        detail: dict[str, Any] = {"jobId": str(self.job["id"]), "kind": self.job["kind"],
                                  "attempt": self.job["attempts"]}
        if self.job.get("api_key_id") is not None:
            detail["apiKeyId"] = str(self.job["api_key_id"])
        return detail
