"""Organization endpoints (Better Auth organization plugin paths): create, list, get, set-active, update, delete."""
from __future__ import annotations

import logging
import uuid
from typing import Any

import psycopg
from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue
from psycopg.types.json import Jsonb

from app import audit, auth, orgs
from app.api import get_db, session_scope
from app.api.spec.schemas import ref
from app.bodies.queries import FullOrgQuery
from app.bodies.requests import DeleteOrganization, NewOrganization, SetActive, UpdateOrganization
from app.db import Scope
from app.endpoint import endpoint
from app.errors import UnauthorizedError
from app.errors.access import CrossOrgRefusedError
from app.errors.better_auth import (
    NotAllowedToDeleteOrganizationError,
    NotAllowedToUpdateOrganizationError,
    OrganizationExistsError,
    SlugTakenError,
    UserNotMemberError,
)
from app.http import session_switch
from app.http.context import services
from app.http.idempotency import new_org_id
from app.http.session_switch import session_kwargs
from app.permissions import LOGIN, LOGIN_TARGET_ORG, can, permission
from app.sso import gate

log = logging.getLogger("atlas.organizations")

bp = Blueprint("organizations", __name__, url_prefix="/api/auth/organization")


def full_org(scope: Scope, org_id: uuid.UUID, role: str | None, *, members_limit: int | None = None) -> dict[str, Any]:
    """The org with its members (any member sees them, as in Better Auth) and, for member:read, invitations."""
    org = orgs.org_json(orgs.get_org(scope, org_id))
    org["members"] = [orgs.member_json(m) for m in orgs.list_members(scope, org_id, limit=members_limit)]
    org["invitations"] = ([orgs.invitation_json(i) for i in orgs.list_invitations(scope, org_id)]
                          if can(role, "member", "read") else [])
    return org


@bp.post("/create")
@endpoint(LOGIN, tag="organizations", body=NewOrganization, response=ref("FullOrganization"), control_plane=True,
          people_only=True, idempotent=True, write_org=new_org_id)
def create(body: NewOrganization) -> ResponseReturnValue:
    """Create an org; the caller becomes its owner and it becomes active (a fresh token, see set-active); 400
    ORGANIZATION_ALREADY_EXISTS if the slug is taken.

    The creator becomes owner, and the new org becomes active: by a fresh session, as set-active does.

    The presented session stays live (bound to its own org), so a retry with
    the same Idempotency-Key can still replay this answer.
    """
    name, slug, logo, metadata = body.name, body.slug, body.logo, body.metadata
    ident, org_id = g.identity, new_org_id()  # made here: RETURNING would need the membership first
    try:
        with get_db().transaction(org_id, user_id=ident.user_id) as scope:
            scope.execute(
                "INSERT INTO organizations (id, name, slug, logo, metadata) VALUES (%s, %s, %s, %s, %s)",
                (org_id, name, slug, logo, Jsonb(metadata or {})),
            )
            owner = orgs.insert_member(scope, org_id, user_id=ident.user_id, role="owner")
            audit.record(scope, action="organization.create", entity="organization", entity_id=org_id,
                         changed_fields=("name", "slug"))
            audit.record(scope, action="member.create", entity="member", entity_id=owner["id"],
                         changed_fields=("role",), detail={"role": "owner", "userId": str(ident.user_id)})
            result = orgs.org_json(orgs.get_org(scope, org_id))
            fresh = session_switch.mint(scope, ident, org_id)
    except psycopg.errors.UniqueViolation:
        raise OrganizationExistsError() from None
    result["members"] = [orgs.member_json(owner)]
    return session_switch.hand_over(jsonify(result), fresh)


@bp.get("/list")
@endpoint(LOGIN, tag="organizations", response={"type": "array", "items": ref("Organization")},
          control_plane=True, people_only=True)
def list_organizations() -> ResponseReturnValue:
    """The caller's organizations."""
    with get_db().identity_transaction(user_id=g.identity.user_id) as scope:
        rows = orgs.orgs_of_user(scope, g.identity.user_id)
    return jsonify([orgs.org_json(r) for r in rows])


@bp.get("/get-full-organization")
@endpoint(LOGIN, tag="organizations", query=FullOrgQuery, response={**ref("FullOrganization"), "nullable": True},
          control_plane=True)
def get_full_organization(args: FullOrgQuery) -> ResponseReturnValue:
    """The session's org with its members (invitations for admins and owners); null without one.

    The session's org in full; 200 null without one, as Better Auth answers.
    """
    ident = g.identity
    if ident.org_id is None:
        return jsonify(None)
    limit = args.membersLimit
    with session_scope(read_only=True) as scope:
        org = full_org(scope, ident.org_id, ident.role, members_limit=limit)
    slug = args.organizationSlug
    if slug is not None and slug != org["slug"]:
        refuse_other_org("organizationSlug", slug)
    return org


def refuse_other_org(field: str, value: str) -> None:
    audit.record_refusal(get_db(), org_id=g.identity.org_id, action="cross_org.refused",
                         entity="organization", entity_id=value[:100],
                         detail={"field": field, "method": request.method, "path": request.path})
    raise CrossOrgRefusedError(f"{field} names an organization other than this session's")


@bp.post("/set-active")
@endpoint(LOGIN_TARGET_ORG, tag="organizations", body=SetActive,
          response={**ref("Organization"), "nullable": True}, control_plane=True, people_only=True)
def set_active(body: SetActive) -> ResponseReturnValue:
    """Switch orgs: a fresh token (header set-auth-token and cookie) bound to the org; the old one is revoked.

    Switching orgs forces a fresh session: a new token bound to the org, minted only by consuming the old one.

    One transaction checks the membership, revokes the presented session (if
    it is still live) and inserts the new session: a token already
    signed out, switched away or expired is refused with 401, and of
    concurrent switches with one token exactly one succeeds. Before it, an org
    that requires SSO refuses a session not opened at its own provider (403
    sso_required, app/sso/gate.py), and the presented session stays live.
    """
    target, slug = body.organizationId, body.organizationSlug
    ident, db = g.identity, get_db()
    checked, method = _admitted(target, slug)
    with db.identity_transaction(user_id=ident.user_id, session_token_hash=ident.token_hash) as scope:
        found = (orgs.membership(scope, user_id=ident.user_id, org_id=target, slug=slug)
                 if target is not None or slug is not None else {"org_id": None, "role": None})
        if found is not None and found["org_id"] != checked:
            found = None  # the slug moved to another org since the SSO check: not admitted there
        if found is not None:
            if auth.consume_session(scope, token_hash=ident.token_hash) is None:
                raise UnauthorizedError("this session has ended (signed out, switched or expired); sign in again")
            new = auth.insert_session(scope, user_id=ident.user_id, org_id=found["org_id"], auth_method=method,
                                      **session_kwargs())
    if found is None:
        if ident.org_id is not None:
            audit.record_refusal(db, org_id=ident.org_id, action="session.set_active",
                                 entity="organization", entity_id=str(target or slug),
                                 detail={"reason": "not a member"})
        raise UserNotMemberError()
    target = found["org_id"]
    payload: dict | None = None  # the org, as Better Auth answers (get-full-organization has the rest)
    if target is not None:
        with db.transaction(target, user_id=ident.user_id, read_only=True) as scope:
            payload = orgs.org_json(orgs.get_org(scope, target))
    response = jsonify(payload)
    auth.set_session_cookie(response, new, secure=services().settings.http.cookie_secure)
    return response


def _admitted(target: uuid.UUID | None, slug: str | None) -> tuple[uuid.UUID | None, str]:
    """(The org set-active would enter, the session's auth_method), once an org that requires SSO admits it.

    Its own transactions, one after the other and before the switch's: never two pool connections at once.
    """
    ident, db = g.identity, get_db()
    with db.identity_transaction(user_id=ident.user_id, session_token_hash=ident.token_hash) as scope:
        found = (orgs.membership(scope, user_id=ident.user_id, org_id=target, slug=slug)
                 if target is not None or slug is not None else None)
        method = gate.method_of(scope, ident.token_hash)
    org_id = None if found is None else found["org_id"]
    if org_id is not None:  # an org that requires SSO admits a session of its own provider only
        with db.transaction(org_id, user_id=ident.user_id, read_only=True) as scope:
            gate.admit(scope, org_id=org_id, auth_method=method, platform_role=ident.platform_role)
    return org_id, method


@bp.post("/update")
@endpoint(permission("organization", "update", refused_with=NotAllowedToUpdateOrganizationError),
          tag="organizations", body=UpdateOrganization, response=ref("Organization"), control_plane=True)
def update(body: UpdateOrganization) -> ResponseReturnValue:
    """Rename or re-slug the session's org."""
    changes = body.data.given()
    ident = g.identity
    try:
        with session_scope() as scope:
            for column, value in changes.items():  # a handful of known columns, one statement each
                _update_column(scope, ident.org_id, column, value)
            audit.record(scope, action="organization.update", entity="organization",
                         entity_id=ident.org_id, changed_fields=changes)
            result = orgs.org_json(orgs.get_org(scope, ident.org_id))
    except psycopg.errors.UniqueViolation:
        raise SlugTakenError() from None
    return result


_UPDATES = {
    "name": "UPDATE organizations SET name = %s WHERE id = %s",
    "slug": "UPDATE organizations SET slug = %s WHERE id = %s",
    "logo": "UPDATE organizations SET logo = %s WHERE id = %s",
    "metadata": "UPDATE organizations SET metadata = %s WHERE id = %s",
}


def _update_column(scope: Scope, org_id: uuid.UUID, column: str, value: object) -> None:
    scope.execute(_UPDATES[column], (Jsonb(value or {}) if column == "metadata" else value, org_id))


@bp.post("/delete")
# reads_body: nothing in the body but organizationId, which the org guard checks (app/http/org_guard.py)
@endpoint(permission("organization", "delete", refused_with=NotAllowedToDeleteOrganizationError),
          tag="organizations", body=DeleteOrganization, response=ref("Organization"), control_plane=True,
          reads_body=True)
def delete() -> ResponseReturnValue:
    """Delete the session's org and everything it owns.

    Delete the session's org and, by cascade, everything it owns (its audit trail included).
    """
    ident = g.identity
    with session_scope() as scope:
        row = orgs.get_org(scope, ident.org_id)
        scope.execute("DELETE FROM organizations WHERE id = %s", (ident.org_id,))
    # The org's audit trail goes with it (ON DELETE CASCADE); the log keeps this one.
    log.warning("organization %s (%s) deleted by user %s, request %s",
                ident.org_id, row["slug"], ident.user_id, g.get("request_id"))
    return orgs.org_json(row)
