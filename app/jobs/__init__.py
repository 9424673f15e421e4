"""Background jobs: the third way in, carrying exactly one org identity (the job row's org and creator).

`store` is the API's side (enqueue, list, get, cancel, retry, results), `queue`
the worker's (find, claim, renew, finish), `worker` the loop of `atlas
worker`, `kinds` what each job does. Finding due work is the only step that
looks across orgs, through app.due_jobs() on a role that can do nothing else
(sql/085_jobs.sql); everything else runs in the job's org transaction.
"""
from __future__ import annotations

from app.config import JobSettings
from app.jobs.kinds import KINDS, PUBLIC_KINDS
from app.jobs.worker import Worker

__all__ = ["KINDS", "PUBLIC_KINDS", "JobSettings", "Worker"]
