"""The job kinds: what each does, what its payload may hold, and whether the API may enqueue it.

Every kind is safe to run twice (delivery is at least once): re-profiling
upserts the same entities, a scheduled query adds one more kept result, a
warm-up fills the cache again. Each runs in its job's org only, through the
org-scoped door, audited to the job's creator.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from app import audit
from app.db import Scope
from app.errors import ValidationError
from app.errors.operations import JobStoppedError
from app.errors.query import SqlInvalidError, SqlRejectedError
from app.jobs.context import JobContext
from app.jobs.payloads import WARM_RECENT_DEFAULT, Payload, Reprofile, ScheduledQuery, Sleep, WarmCache, checked
from app.query_service import Caller
from app.semantic import profile as prof
from app.semantic.schema import validate_entity_yaml

WARM_RECENT_WINDOW = "24 hours"  # recent agent queries: successful ones from this long ago until now


@dataclass(frozen=True)
class Kind:
    """A kind of job. `public`: enqueueable over the API; `scheduled`: needs a cron schedule."""

    name: str
    run: Callable[[JobContext], dict[str, Any]]
    payload: type[Payload]
    public: bool = True
    scheduled: bool = False

    def check(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The payload as stored, or a 400 naming the bad field (app/jobs/payloads.py)."""
        return checked(self.payload, payload)


# ----- reprofile: what `atlas init --org` does, with progress -----------------------------------------
def run_reprofile(ctx: JobContext) -> dict[str, Any]:
    """Profile the org's rows table by table (one progress step each), then import the entities in one go."""
    db, settings = ctx.services.db, ctx.services.settings
    with db.transaction(ctx.org_id, read_only=True) as scope:
        available = prof.agent_tables(scope, agent_role=settings.database.roles.agent)
    wanted = ctx.payload.get("tables")
    chosen = [t for t in available if t in set(wanted)] if wanted else available
    ctx.progress(0, len(chosen), "profiling")
    profiles = []
    for done, table in enumerate(chosen, start=1):
        with db.transaction(ctx.org_id, read_only=True) as scope:
            profile = prof.describe(scope, table)
            prof.add_data(scope, profile)
        profiles.append(profile)
        ctx.progress(done, len(chosen), f"profiled {table}")
    documents = {name: prof.to_yaml(doc) for name, doc in prof.build_entities(profiles).items()}
    for text in documents.values():
        validate_entity_yaml(text)

    def record(scope: Scope, action: str, row: dict) -> None:
        audit.record(scope, action=action, entity="semantic_entity", entity_id=row["name"],
                     changed_fields=["yaml_content"], actor_user_id=ctx.actor_user_id, request_id=None,
                     detail={"version": row["version"], "source": "job", **ctx.audit_detail()})

    rows = ctx.services.semantic.import_entities(ctx.org_id, documents, user_id=ctx.actor_user_id, audit=record)
    return {"tables": len(chosen), "entities": len(rows), "changed": sum(1 for r in rows if r["changed"])}


# ----- scheduled_query: an agent query on a cron schedule, results kept per org -------------------------
def run_scheduled_query(ctx: JobContext) -> dict[str, Any]:
    """Run the SQL through the gateway as the creator (the org's limits, cache and audit); keep the result."""
    caller = Caller(org_id=ctx.org_id, user_id=ctx.actor_user_id, role=ctx.actor_role)
    ctx.progress(0, 1, "running")
    result = ctx.services.queries.run(caller, ctx.payload["sql"])
    with ctx.services.db.transaction(ctx.org_id, user_id=ctx.actor_user_id) as scope:
        # Kept only if the job is still running: one canceled meanwhile (its key revoked, say) stores
        # nothing. FOR SHARE makes a concurrent cancel wait for this result or be seen by it.
        if scope.fetch_value("SELECT status FROM jobs WHERE org_id = %s AND id = %s FOR SHARE",
                             (ctx.org_id, ctx.job["id"])) != "running":
            raise JobStoppedError(f"job {ctx.job['id']} was canceled while its query ran: its result is not kept")
        kept = scope.fetch_value(
            "INSERT INTO job_results (org_id, job_id, expires_at, result)"
            " VALUES (%s, %s, now() + make_interval(secs => %s), %s) RETURNING id",
            (ctx.org_id, ctx.job["id"], ctx.config.result_ttl_s, Jsonb(result.to_json())))
        scope.execute("DELETE FROM job_results WHERE org_id = %s AND expires_at <= now()", (ctx.org_id,))
    ctx.progress(1, 1, "kept")
    return {"resultId": str(kept), "rowCount": result.row_count, "truncated": result.truncated}


# ----- warm_cache: the org's saved queries, run ahead of their readers ---------------------------------
def saved_queries(scope: Scope, org_id: object, *, recent: int) -> list[str]:
    """The org's saved queries: its scheduled queries' SQL, then its `recent` latest distinct successful
    agent queries of the last 24 hours (from the audit trail), without repeats."""
    scheduled = scope.fetch_all(
        "SELECT payload->>'sql' AS sql FROM jobs WHERE org_id = %s AND kind = 'scheduled_query'"
        " AND status IN ('queued', 'running', 'succeeded') ORDER BY created_at", (org_id,))
    latest = scope.fetch_all(
        "SELECT sql FROM (SELECT detail->>'sql' AS sql, max(occurred_at) AS last FROM audit_log"
        " WHERE org_id = %s AND action = 'query.run' AND outcome = 'ok'"
        " AND occurred_at > now() - %s::interval AND jsonb_typeof(detail->'sql') = 'string'"
        " GROUP BY 1) q ORDER BY last DESC LIMIT %s", (org_id, WARM_RECENT_WINDOW, recent))
    found: dict[str, None] = {}
    for row in [*scheduled, *latest]:
        if row["sql"]:
            found.setdefault(row["sql"], None)
    return list(found)


def run_warm_cache(ctx: JobContext) -> dict[str, Any]:
    """Run each saved query as the creator, so the cache holds its answer; a refused one is skipped."""
    if ctx.services.cache is None:
        ctx.progress(0, 0, "the query cache is off (ATLAS_CACHE_BACKEND=none): nothing to warm")
        return {"queries": 0, "warmed": 0, "skipped": 0}
    with ctx.services.db.transaction(ctx.org_id, read_only=True) as scope:
        queries = saved_queries(scope, ctx.org_id, recent=int(ctx.payload.get("recent", WARM_RECENT_DEFAULT)))
    caller = Caller(org_id=ctx.org_id, user_id=ctx.actor_user_id, role=ctx.actor_role)
    warmed = skipped = 0
    ctx.progress(0, len(queries), "warming")
    for done, sql_text in enumerate(queries, start=1):
        try:
            ctx.services.queries.run(caller, sql_text)
            warmed += 1
        except (SqlRejectedError, SqlInvalidError, ValidationError):
            skipped += 1  # refused and audited by the query service; the others still warm
        ctx.progress(done, len(queries), f"{warmed} warmed, {skipped} skipped")
    return {"queries": len(queries), "warmed": warmed, "skipped": skipped}


# ----- sleep: a diagnostic kind for benchmarks and tests (not enqueueable over the API) ----------------
def run_sleep(ctx: JobContext) -> dict[str, Any]:
    """Hold a worker for `seconds`, reporting progress 10 times; fail the first `failAttempts` attempts."""
    seconds, fail = float(ctx.payload.get("seconds", 0)), int(ctx.payload.get("failAttempts", 0))
    if ctx.job["attempts"] <= fail:
        raise RuntimeError(f"failing attempt {ctx.job['attempts']} of the first {fail}, as asked")
    steps = 10 if seconds > 0 else 0
    for step in range(1, steps + 1):
        time.sleep(seconds / steps)
        ctx.progress(step, steps, "sleeping")
    return {"slept_s": seconds}


KINDS: Mapping[str, Kind] = {kind.name: kind for kind in (
    Kind("reprofile", run_reprofile, Reprofile),
    Kind("scheduled_query", run_scheduled_query, ScheduledQuery, scheduled=True),
    Kind("warm_cache", run_warm_cache, WarmCache),
    Kind("sleep", run_sleep, Sleep, public=False),
)}
PUBLIC_KINDS = tuple(name for name, kind in KINDS.items() if kind.public)
