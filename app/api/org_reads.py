"""Organization reads of Better Auth's plugin: check-slug, get-organization, the active member and its role,
has-permission.

has-permission answers from Atlas's matrix (app/permissions.py), with Better
Auth's resource names mapped onto it: `invitation` create and cancel are
`member` create (whoever may invite may withdraw an invitation); a resource or
action Atlas does not know is simply not permitted.
"""
from __future__ import annotations

import uuid

import psycopg
from flask import Blueprint, g, jsonify
from flask.typing import ResponseReturnValue

from app import orgs
from app.api import get_db, session_scope
from app.api.organizations import refuse_other_org
from app.api.spec.schemas import ROLE, STATUS, obj, ref
from app.bodies.auth_requests import CheckSlug, HasPermission
from app.bodies.queries import OrgBySlug, RoleOf
from app.endpoint import endpoint
from app.errors import ValidationError
from app.errors.access import NoActiveOrganizationError
from app.errors.better_auth import NotAMemberError, SlugTakenError
from app.permissions import LOGIN, MEMBER, allows

bp = Blueprint("org_reads", __name__, url_prefix="/api/auth/organization")

# Better Auth's (resource, action) -> Atlas's matrix cell.
_ALIASES = {("invitation", "create"): ("member", "create"), ("invitation", "cancel"): ("member", "create")}


@bp.post("/check-slug")
@endpoint(LOGIN, tag="organizations", body=CheckSlug, response=STATUS, control_plane=True)
def check_slug(body: CheckSlug) -> ResponseReturnValue:
    """Is the slug free? (400 ORGANIZATION_SLUG_ALREADY_TAKEN if not)

    Is the slug free? Asked of the unique index itself: an insert that is always rolled back.

    Organizations are visible only to their members, so looking the slug up
    would miss other orgs' slugs; the index sees them all, and tells no more
    than a create with that slug would.
    """
    slug = body.slug
    try:
        with get_db().transaction(uuid.uuid4(), user_id=g.identity.user_id) as scope, \
                scope.conn.transaction(force_rollback=True):
            scope.execute("INSERT INTO organizations (id, name, slug) VALUES (app.current_org(), 'slug probe', %s)",
                          (slug,))
    except psycopg.errors.UniqueViolation:
        raise SlugTakenError() from None
    return {"status": True}


@bp.get("/get-organization")
@endpoint(LOGIN, tag="organizations", query=OrgBySlug, response={**ref("Organization"), "nullable": True},
          control_plane=True)
def get_organization(args: OrgBySlug) -> ResponseReturnValue:
    """The session's org without members (null without one)

    The session's org (no members); 200 null without one. Another org's id or slug is refused (403).
    """
    ident = g.identity
    if ident.org_id is None:
        return jsonify(None)
    with session_scope(read_only=True) as scope:
        org = orgs.org_json(orgs.get_org(scope, ident.org_id))
    slug = args.organizationSlug
    if slug is not None and slug != org["slug"]:
        refuse_other_org("organizationSlug", slug)
    return org


@bp.get("/get-active-member")
@endpoint(MEMBER, tag="members", response=ref("Member"), control_plane=True)
def get_active_member() -> ResponseReturnValue:
    """The caller's membership in the session's org."""
    ident = g.identity
    with session_scope(read_only=True) as scope:
        me = orgs.member_of(scope, ident.org_id, user_id=ident.user_id)
    return orgs.member_json(me)


@bp.get("/get-active-member-role")
@endpoint(MEMBER, tag="members", query=RoleOf, response=obj(("role",), role=ROLE), control_plane=True)
def get_active_member_role(args: RoleOf) -> ResponseReturnValue:
    """The caller's (or userId's) role in the session's org."""
    ident = g.identity
    user_id = args.userId
    if not user_id or user_id == str(ident.user_id):
        return {"role": ident.role}
    try:
        wanted = uuid.UUID(user_id)
    except ValueError:
        raise NotAMemberError() from None
    with session_scope(read_only=True) as scope:
        role = scope.fetch_value("SELECT role FROM members WHERE org_id = %s AND user_id = %s",
                                 (ident.org_id, wanted))
    if role is None:
        raise NotAMemberError()
    return {"role": role}


@bp.post("/has-permission")
@endpoint(LOGIN, tag="members", body=HasPermission,
          response=obj(("success",), success={"type": "boolean"}, error={"type": "string", "nullable": True}),
          control_plane=True)
def has_permission(body: HasPermission) -> ResponseReturnValue:
    """May the caller's role do all these actions? (Atlas's matrix)

    {"success": true} when the caller's role in the session's org may do every listed action.
    """
    ident = g.identity
    asked = body.permissions if body.permissions is not None else body.permission
    if asked is None:
        raise ValidationError("invalid request: permissions is required",
                              details={"fields": {"permissions": "is required"}})
    if ident.org_id is None:
        raise NoActiveOrganizationError("no active organization: call POST /api/auth/organization/set-active first")
    allowed = all(allows(ident, *_ALIASES.get((resource, action), (resource, action)))
                  for resource, actions in asked.items() for action in actions)
    return {"error": None, "success": allowed}
