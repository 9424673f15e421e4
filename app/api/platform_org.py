"""A platform admin's look at one org: the org id from the path, its existence, the audit of the look,
and its rows read where the org lives.

Shared by the platform admin endpoints (app/api/platform_admin.py) and the
agent-usage endpoint (app/api/agent_routes.py). Every look runs in
Database.platform_transaction on the shared database, which re-checks in SQL
that the caller is a platform admin, and is written to platform_audit and to the
org's own audit_log. An org placed in a dedicated database (app/placement) keeps
its tenant rows there: `read_org_rows` reads them there, as the platform role, in
the same platform scope (app/placement/platform_reads.py).
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from flask import g, request
from psycopg.types.json import Jsonb

from app import audit
from app.db import Database, Scope
from app.errors import NotFoundError
from app.http.context import services
from app.placement.platform_reads import read_in


def platform_db() -> Database:
    """This app's door for the platform role (built by create_app, app/services.py)."""
    return services().platform_db


def target_org_id(target_id: str) -> uuid.UUID:
    """The org id of a path; a malformed id is as unknown as a missing one (404)."""
    try:
        return uuid.UUID(target_id)
    except ValueError:
        raise NotFoundError(f"organization {target_id} not found") from None


def record_platform_look(scope: Scope, action: str, target: uuid.UUID | None) -> None:
    """platform_audit always; the target org's own audit_log as well when there is one."""
    scope.execute(
        "INSERT INTO platform_audit (actor_user_id, action, target_org_id, request_id, detail)"
        " VALUES (app.current_user_id(), %s, %s, %s, %s)",
        (action, target, getattr(g, "request_id", None), Jsonb({"path": request.path})),
    )
    if target is not None:
        audit.record(scope, action=action, entity="organization", entity_id=target,
                     detail={"platform_admin": True})


def require_organization(scope: Scope, target: uuid.UUID) -> dict[str, Any]:
    """The org's row; NotFoundError (404) when there is none."""
    row = scope.fetch_one(
        "SELECT id, name, slug, logo, metadata, created_at FROM organizations WHERE id = %s", (target,))
    if row is None:
        raise NotFoundError(f"organization {target} not found")
    return row


def read_org_rows(target_id: str, *, action: str, query: str,
                  params: Mapping[str, Any]) -> tuple[uuid.UUID, list[dict[str, Any]]]:
    """For a platform admin: (org id, rows of `query`) read in the database where the org lives.

    `query` runs in a transaction scoped to the org (app.org_id set), so tenant
    policies admit the org's rows only. The look is checked and audited on the
    shared database first; an unknown or malformed id is 404 before anything is read.
    """
    target = target_org_id(target_id)
    placement = services().placement
    with platform_db().platform_transaction(user_id=g.identity.user_id, org_id=target) as scope:
        require_organization(scope, target)
        location = placement.location(target)  # the router's own lookup, cached per org
        rows = scope.fetch_all(query, dict(params)) if location is None else None
        record_platform_look(scope, action, target)
    if rows is None:
        assert location is not None
        rows = read_in(placement, location, user_id=g.identity.user_id, query=query, params=params, org=target)
    return target, rows
