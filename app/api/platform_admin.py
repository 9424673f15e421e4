"""Platform admin: every organization and its job queue depth, one org's members and invitations, its stats.

The one deliberate cross-org read path. It runs on the platform role's own
connection (sql/040_platform.sql) inside Database.platform_transaction, which
re-checks in SQL that the caller is a platform admin; every call is written to
platform_audit, and a look at one org is also written to that org's audit_log.
Ordinary users and org admins get 403 from the access check before any SQL.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, g

from app.api.platform_org import platform_db, record_platform_look, require_organization, target_org_id
from app.api.spec.schemas import STAMP, UUID, obj, ref
from app.endpoint import endpoint
from app.http.context import services
from app.permissions import PLATFORM_ADMIN
from app.placement.platform_reads import placed_orgs, read_elsewhere
from app.serialize import value_json as to_json

bp = Blueprint("platform_admin", __name__, url_prefix="/api/v1/admin/organizations")
_PLACED_JOBS = ("SELECT org_id, count(*) FILTER (WHERE status = 'queued') AS jobs_queued,"
                " count(*) FILTER (WHERE status = 'running') AS jobs_running"
                " FROM jobs WHERE org_id = ANY(%(orgs)s) GROUP BY org_id")
_PLACED_STATS = (
    "SELECT o.id AS org_id,"
    " (SELECT count(*) FROM conversations WHERE org_id = o.id) AS conversations,"
    " (SELECT count(*) FROM audit_log WHERE org_id = o.id AND entity = 'query') AS queries,"
    " (SELECT count(*) FROM jobs WHERE org_id = o.id AND status = 'queued') AS jobs_queued,"
    " (SELECT count(*) FROM jobs WHERE org_id = o.id AND status = 'running') AS jobs_running,"
    " (SELECT count(*) FROM jobs WHERE org_id = o.id AND status = 'dead') AS jobs_dead"
    " FROM unnest(%(orgs)s::uuid[]) AS o(id)")


@bp.get("")
@endpoint(PLATFORM_ADMIN, tag="platform",
          response=obj(("data",), data={"type": "array", "items": obj(
            ("id", "name", "slug"), id=UUID, name={"type": "string"}, slug={"type": "string"},
            createdAt=STAMP, memberCount={"type": "integer"}, jobsQueued={"type": "integer"},
            jobsRunning={"type": "integer"})}))
def list_organizations() -> dict[str, Any]:
    """Every organization with its member count and job queue depth (platform admins; audited)"""
    with platform_db().platform_transaction(user_id=g.identity.user_id) as scope:
        rows = scope.fetch_all(
            "SELECT o.id, o.name, o.slug, o.created_at,"
            " (SELECT count(*) FROM members m WHERE m.org_id = o.id) AS member_count,"
            " (SELECT count(*) FROM jobs j WHERE j.org_id = o.id AND j.status = 'queued') AS jobs_queued,"
            " (SELECT count(*) FROM jobs j WHERE j.org_id = o.id AND j.status = 'running') AS jobs_running"
            " FROM organizations o ORDER BY o.created_at, o.id")
        placed = placed_orgs(scope)
        record_platform_look(scope, "platform.organizations.list", None)
    # An org in a dedicated database keeps its jobs there (app/placement/platform_reads.py).
    jobs = read_elsewhere(services().placement, placed, user_id=g.identity.user_id, query=_PLACED_JOBS)
    for row in rows:  # a placed org's rows are counted where it lives, never in a copy a move left behind
        if row["id"] in placed:
            counted = jobs.get(row["id"], {})
            row["jobs_queued"], row["jobs_running"] = counted.get("jobs_queued", 0), counted.get("jobs_running", 0)
    return {"data": [_org_json(r) | {"memberCount": r["member_count"], "jobsQueued": r["jobs_queued"],
                                     "jobsRunning": r["jobs_running"]} for r in rows]}


@bp.get("/<target_id>")
@endpoint(PLATFORM_ADMIN, tag="platform",
          response={"allOf": [ref("Organization"), obj(
            members={"type": "array", "items": ref("Member")},
            invitations={"type": "array", "items": {"type": "object"}})]})
def get_organization(target_id: str) -> dict[str, Any]:
    """One organization with its members and invitations (platform admins; audited in the org too)"""
    target = target_org_id(target_id)
    with platform_db().platform_transaction(user_id=g.identity.user_id, org_id=target) as scope:
        org = require_organization(scope, target)
        members = scope.fetch_all(
            "SELECT m.id, m.user_id, m.role, m.created_at, u.name, u.email FROM members m"
            " JOIN users u ON u.id = m.user_id WHERE m.org_id = %s ORDER BY m.created_at, m.id", (target,))
        invitations = scope.fetch_all(
            "SELECT id, email, role, status, expires_at, created_at FROM invitations"
            " WHERE org_id = %s ORDER BY created_at, id", (target,))
        record_platform_look(scope, "platform.organization.read", target)
    return _org_json(org) | {
        "members": [{"id": str(m["id"]), "organizationId": str(target), "userId": str(m["user_id"]),
                     "role": m["role"], "createdAt": to_json(m["created_at"]),
                     "user": {"id": str(m["user_id"]), "name": m["name"], "email": m["email"]}}
                    for m in members],
        "invitations": [{"id": str(i["id"]), "organizationId": str(target), "email": i["email"],
                         "role": i["role"], "status": i["status"], "expiresAt": to_json(i["expires_at"]),
                         "createdAt": to_json(i["created_at"])} for i in invitations],
    }


@bp.get("/<target_id>/stats")
@endpoint(PLATFORM_ADMIN, tag="platform",
          response=obj(
            ("organizationId",), organizationId=UUID, conversations={"type": "integer"},
            members={"type": "integer"}, queries={"type": "integer"}, jobsQueued={"type": "integer"},
            jobsRunning={"type": "integer"}, jobsDead={"type": "integer"}))
def organization_stats(target_id: str) -> dict[str, Any]:
    """Counts of an organization's conversations, members, queries and jobs by state (platform admins;
    audited)"""
    target = target_org_id(target_id)
    with platform_db().platform_transaction(user_id=g.identity.user_id, org_id=target) as scope:
        require_organization(scope, target)
        stats = scope.fetch_one(
            "SELECT (SELECT count(*) FROM conversations WHERE org_id = %(org)s) AS conversations,"
            " (SELECT count(*) FROM members WHERE org_id = %(org)s) AS members,"
            " (SELECT count(*) FROM audit_log WHERE org_id = %(org)s AND entity = 'query') AS queries,"
            " (SELECT count(*) FROM jobs WHERE org_id = %(org)s AND status = 'queued') AS jobs_queued,"
            " (SELECT count(*) FROM jobs WHERE org_id = %(org)s AND status = 'running') AS jobs_running,"
            " (SELECT count(*) FROM jobs WHERE org_id = %(org)s AND status = 'dead') AS jobs_dead",
            {"org": target})
        record_platform_look(scope, "platform.organization.stats", target)
    assert stats is not None
    placement = services().placement
    location = placement.location(target)  # the router's own lookup, cached per org
    if location is not None:  # members stay in the shared database; the rest lives in the org's own
        elsewhere = read_elsewhere(placement, {target: location}, user_id=g.identity.user_id,
                                   query=_PLACED_STATS, org=target).get(target, {})
        stats = {name: count if name == "members" else elsewhere.get(name, 0) for name, count in stats.items()}
    names = {"jobs_queued": "jobsQueued", "jobs_running": "jobsRunning", "jobs_dead": "jobsDead"}
    return {"organizationId": str(target), **{names.get(k, k): int(v) for k, v in stats.items()}}


def _org_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(row["id"]), "name": row["name"], "slug": row["slug"],
            "createdAt": to_json(row["created_at"])}
