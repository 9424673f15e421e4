"""SCIM 2.0 (RFC 7644) under /scim/v2: Users (the org's members), Groups (its teams) and discovery.

Every request carries an org's SCIM token (`Authorization: Bearer scim_...`,
app/scim/tokens.py); the org comes from the token alone, so one org's token never
reads or changes another org's users or groups: their ids answer 404 as unknown
ones do. Answers and errors are SCIM's (`application/scim+json`, the Error
message), not the API's JSON shape. The mapping: app/scim/users.py, groups.py.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from flask import Blueprint, Response, g, request
from flask.typing import ResponseReturnValue
from scim2_models import (
    Context,
    Error,
    Group,
    ListResponse,
    Meta,
    NotFoundException,
    PatchOp,
    SCIMException,
    SearchRequest,
    UnauthorizedException,
    User,
)
from werkzeug.exceptions import HTTPException

from app import auth, cascades
from app.db import Scope
from app.endpoint import endpoint
from app.errors import AtlasError
from app.http.context import services
from app.permissions import PUBLIC
from app.placement.router import control_plane
from app.scim import discovery, groups, tokens, users

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")
MEDIA = "application/scim+json"
_WRITE = ("POST", "PUT", "PATCH", "DELETE")


def _answer(payload: dict[str, Any] | None, status: int = 200, *, location: str | None = None) -> Response:
    response = Response("" if payload is None else json.dumps(payload, default=str), status=status, mimetype=MEDIA)
    if location:
        response.headers["Location"] = location
    return response


def _error(status: int, detail: str, scim_type: str | None = None) -> Response:
    error = Error(status=status, detail=detail, scim_type=scim_type)
    return _answer(error.model_dump(scim_ctx=Context.DEFAULT, mode="json", exclude_none=True), status)


@bp.errorhandler(SCIMException)
def _scim_error(exc: SCIMException) -> Response:
    error = exc.to_error()
    return _answer(error.model_dump(scim_ctx=Context.DEFAULT, mode="json", exclude_none=True), int(error.status or 400))


@bp.errorhandler(AtlasError)
def _atlas_error(exc: AtlasError) -> Response:
    return _error(int(exc.status), str(exc))


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    return _error(int(exc.code or 500), exc.description or exc.name)


@bp.before_request
def _authenticate() -> None:
    """The org's SCIM caller from the bearer token, or 401: the org is the token's, never the request's."""
    caller = tokens.lookup(services().db, auth.token_from_request(request))
    if caller is None:
        raise UnauthorizedException(detail="a valid SCIM token is required: Authorization: Bearer scim_...")
    g.scim = caller


def _base() -> str:
    return request.host_url.rstrip("/") + bp.url_prefix  # type: ignore[operator]  # set above


def _body() -> Any:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise SCIMException(detail="the body must be a SCIM JSON object")
    return payload


def _id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _control() -> AbstractContextManager[None]:
    """Control-plane rows (members, scim_users) live in the shared database whatever the org's placement."""
    return control_plane()


def _scope(*, read_only: bool = False) -> AbstractContextManager[Scope]:
    """A transaction in the token's org, acting as the token's creator."""
    return services().db.transaction(g.scim.org_id, user_id=g.scim.created_by, read_only=read_only)


def _search(model: Any) -> Any:
    """The query's SearchRequest: from the query string, or the body of a POST .search."""
    given = _body() if request.method == "POST" else request.args.to_dict()
    try:
        return SearchRequest[model].model_validate(given, scim_ctx=Context.SEARCH_REQUEST)
    except Exception as exc:  # an invalid filter, sort or count
        raise SCIMException(detail=str(exc).splitlines()[0][:300], scim_type="invalidFilter") from None


def _listed(model: Any, resources: list[Any]) -> Response:
    search = _search(model)
    if search.filter is not None:
        resources = [r for r in resources if search.filter.match(r)]
    if search.sort_by is not None:
        resources = search.sort(resources)
    total = len(resources)
    start = search.start_index_0 or 0
    stop = min(start + min(search.count if search.count is not None else discovery.MAX_RESULTS,
                           discovery.MAX_RESULTS), total)
    page = resources[start:stop]
    listing = ListResponse[model](total_results=total, start_index=start + 1, items_per_page=len(page),
                                  resources=page)
    return _answer(listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE, response_parameters=search, mode="json"))


def _one(resource: Any, context: Context, status: int = 200) -> Response:
    params = _search(type(resource)) if request.method == "GET" else None
    return _answer(resource.model_dump(scim_ctx=context, response_parameters=params, mode="json"), status,
                   location=resource.meta.location if status == 201 else None)


# ----- discovery ----------------------------------------------------------------------------------------------
@bp.get("/ServiceProviderConfig")
@endpoint(PUBLIC, tag="scim", sessionless=True)  # the SCIM token is checked by _authenticate
def service_provider_config() -> ResponseReturnValue:
    return _answer(discovery.provider().config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE, mode="json"))  # type: ignore[union-attr]


def _discovered(kind: str, items: tuple[Any, ...], key: Callable[[Any], str], wanted: str | None) -> Response:
    for item in items:
        if item.meta is None:
            item.meta = Meta(resource_type=kind, location=f"{_base()}/{kind}s/{key(item)}")
    if wanted is not None:
        for item in items:
            if key(item) == wanted:
                return _answer(item.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE, mode="json"))
        raise NotFoundException(detail=f"{kind} {wanted} not found")
    listing = ListResponse[type(items[0])](total_results=len(items), start_index=1, items_per_page=len(items),  # type: ignore[misc,operator]
                                           resources=list(items))
    return _answer(listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE, mode="json"))


@bp.get("/Schemas", defaults={"schema_id": None})
@bp.get("/Schemas/<schema_id>")
@endpoint(PUBLIC, tag="scim", sessionless=True)  # the SCIM token is checked by _authenticate
def schemas(schema_id: str | None) -> ResponseReturnValue:
    return _discovered("Schema", discovery.provider().schemas, lambda s: str(s.id), schema_id)


@bp.get("/ResourceTypes", defaults={"type_id": None})
@bp.get("/ResourceTypes/<type_id>")
@endpoint(PUBLIC, tag="scim", sessionless=True)  # the SCIM token is checked by _authenticate
def resource_types(type_id: str | None) -> ResponseReturnValue:
    return _discovered("ResourceType", discovery.provider().resource_types, lambda r: str(r.id), type_id)


# ----- Users ----------------------------------------------------------------------------------------------------
def _user(row: Any) -> User:
    return users.as_resource(row, location=f"{_base()}/Users/{row['user_id']}")


@bp.get("/Users")
@bp.post("/Users/.search")
@endpoint(PUBLIC, tag="scim", sessionless=True)  # the SCIM token is checked by _authenticate
def list_users() -> ResponseReturnValue:
    with _control(), _scope(read_only=True) as scope:
        rows = users.rows(scope)
    return _listed(User, [_user(row) for row in rows])


@bp.get("/Users/<user_id>")
@endpoint(PUBLIC, tag="scim", sessionless=True)  # the SCIM token is checked by _authenticate
def get_user(user_id: str) -> ResponseReturnValue:
    with _control(), _scope(read_only=True) as scope:
        row = users.find(scope, _id(user_id))
    return _one(_user(row), Context.RESOURCE_QUERY_RESPONSE)


@bp.post("/Users")
@endpoint(PUBLIC, tag="scim", sessionless=True)  # the SCIM token is checked by _authenticate
def create_user() -> ResponseReturnValue:
    wanted = users.parse(_body(), Context.RESOURCE_CREATION_REQUEST)
    with _control(), _scope() as scope:
        row = users.find(scope, users.create(scope, g.scim, wanted))
    return _one(_user(row), Context.RESOURCE_CREATION_RESPONSE, 201)


def _store_user(user_id: uuid.UUID | None, change: Callable[[User], User]) -> Response:
    """Apply `change` to the current User and store it; a deactivation runs the member-removal cascade."""
    gone: list[uuid.UUID] = []
    jobs = _live_jobs(user_id)
    with _control(), _scope() as scope:
        current = users.find(scope, user_id)
        users.replace(scope, g.scim, current, change(_user(current)), gone.append)
        row = users.find(scope, current["user_id"])
    if gone:
        _stop_work(gone[0], jobs)
    context = Context.RESOURCE_PATCH_RESPONSE if request.method == "PATCH" else Context.RESOURCE_REPLACEMENT_RESPONSE
    return _one(_user(row), context)


@bp.put("/Users/<user_id>")
@endpoint(PUBLIC, tag="scim", sessionless=True)  # the SCIM token is checked by _authenticate
def replace_user(user_id: str) -> ResponseReturnValue:
    wanted = users.parse(_body(), Context.RESOURCE_REPLACEMENT_REQUEST)
    return _store_user(_id(user_id), lambda _current: wanted)


@bp.patch("/Users/<user_id>")
@endpoint(PUBLIC, tag="scim", sessionless=True)  # the SCIM token is checked by _authenticate
def patch_user(user_id: str) -> ResponseReturnValue:
    operations = _patch(User)

    def patched(current: User) -> User:
        operations.patch(current)
        return current
    return _store_user(_id(user_id), patched)


@bp.delete("/Users/<user_id>")
@endpoint(PUBLIC, tag="scim", sessionless=True)  # the SCIM token is checked by _authenticate
def delete_user(user_id: str) -> ResponseReturnValue:
    jobs = _live_jobs(_id(user_id))
    with _control(), _scope() as scope:
        current = users.find(scope, _id(user_id))
        left = users.delete(scope, g.scim, current)
    if left:
        _stop_work(current["user_id"], jobs)
    return _answer(None, 204)


def _live_jobs(user_id: uuid.UUID | None) -> list[uuid.UUID]:
    """The user's live jobs, read where the org's rows live before their membership may go (app/cascades.py)."""
    if user_id is None:
        return []
    with _scope(read_only=True) as scope:
        return cascades.live_jobs_of(scope, user_id)


def _stop_work(user_id: uuid.UUID, jobs: list[uuid.UUID]) -> None:
    """After a membership went: the member-removal cascade (app/cascades.py), invitations in the shared database,
    keys and jobs where the org's rows live; and every session of theirs bound to this org is revoked (their
    sessions in other orgs stay: one org's provider ends only its own)."""
    with services().db.identity_transaction(user_id=user_id) as scope:  # sessions: their user's rows (RLS)
        scope.execute("UPDATE sessions SET revoked_at = now()"
                      " WHERE user_id = %s AND active_org_id = %s AND revoked_at IS NULL", (user_id, g.scim.org_id))
    with _control(), _scope() as scope:
        cascades.cancel_invitations(scope, reason="scim.deactivate", inviter_id=user_id)
    with _scope() as scope:
        cascades.stop_members_work(scope, user_id=user_id, revoked_by=g.scim.created_by, reason="scim.deactivate",
                                   job_ids=jobs)


def _patch(model: Any) -> Any:
    try:
        return PatchOp[model].model_validate(_body(), scim_ctx=Context.RESOURCE_PATCH_REQUEST)
    except SCIMException:
        raise
    except Exception as exc:
        raise SCIMException(detail=str(exc).splitlines()[0][:300], scim_type="invalidSyntax") from None


@bp.post("/.search")
@endpoint(PUBLIC, tag="scim", sessionless=True)  # the SCIM token is checked by _authenticate
def search_all() -> ResponseReturnValue:
    """A SearchRequest over Users and Groups alike (RFC 7644 3.4.3: the server root)."""
    with _control(), _scope(read_only=True) as scope:
        people = [_user(row) for row in users.rows(scope)]
    with _scope(read_only=True) as scope:
        teams = [_group(row) for row in groups.rows(scope)]
    return _listed(User | Group, [*people, *teams])


# ----- Groups ---------------------------------------------------------------------------------------------------
def _group(row: Any) -> Group:
    return groups.as_resource(row, location=f"{_base()}/Groups/{row['id']}", user_location=f"{_base()}/Users")


@bp.get("/Groups")
@bp.post("/Groups/.search")
@endpoint(PUBLIC, tag="scim", sessionless=True)  # the SCIM token is checked by _authenticate
def list_groups() -> ResponseReturnValue:
    with _scope(read_only=True) as scope:
        rows = groups.rows(scope)
    return _listed(Group, [_group(row) for row in rows])


@bp.get("/Groups/<group_id>")
@endpoint(PUBLIC, tag="scim", sessionless=True)  # the SCIM token is checked by _authenticate
def get_group(group_id: str) -> ResponseReturnValue:
    with _scope(read_only=True) as scope:
        row = groups.find(scope, _id(group_id))
    return _one(_group(row), Context.RESOURCE_QUERY_RESPONSE)


@bp.post("/Groups")
@endpoint(PUBLIC, tag="scim", sessionless=True)  # the SCIM token is checked by _authenticate
def create_group() -> ResponseReturnValue:
    wanted = groups.parse(_body(), Context.RESOURCE_CREATION_REQUEST)
    with _scope() as scope:
        row = groups.find(scope, groups.create(scope, g.scim, wanted))
    return _one(_group(row), Context.RESOURCE_CREATION_RESPONSE, 201)


@bp.put("/Groups/<group_id>")
@endpoint(PUBLIC, tag="scim", sessionless=True)  # the SCIM token is checked by _authenticate
def replace_group(group_id: str) -> ResponseReturnValue:
    wanted = groups.parse(_body(), Context.RESOURCE_REPLACEMENT_REQUEST)
    with _scope() as scope:
        current = groups.find(scope, _id(group_id))
        groups.replace(scope, g.scim, current, wanted)
        row = groups.find(scope, current["id"])
    return _one(_group(row), Context.RESOURCE_REPLACEMENT_RESPONSE)


@bp.patch("/Groups/<group_id>")
@endpoint(PUBLIC, tag="scim", sessionless=True)  # the SCIM token is checked by _authenticate
def patch_group(group_id: str) -> ResponseReturnValue:
    operations = _patch(Group)
    with _scope() as scope:
        current = groups.find(scope, _id(group_id))
        resource = _group(current)
        operations.patch(resource)
        groups.replace(scope, g.scim, current, resource)
        row = groups.find(scope, current["id"])
    return _one(_group(row), Context.RESOURCE_PATCH_RESPONSE)


@bp.delete("/Groups/<group_id>")
@endpoint(PUBLIC, tag="scim", sessionless=True)  # the SCIM token is checked by _authenticate
def delete_group(group_id: str) -> ResponseReturnValue:
    with _scope() as scope:
        groups.delete(scope, g.scim, groups.find(scope, _id(group_id)))
    return _answer(None, 204)


@bp.route("/<path:unknown>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@endpoint(PUBLIC, tag="scim", sessionless=True)  # the SCIM token is checked by _authenticate
def unknown_endpoint(unknown: str) -> ResponseReturnValue:
    """Anything else under /scim/v2 is SCIM's 404 (not the console's page); a write to discovery is a 405."""
    if unknown.split("/")[0] in _DISCOVERY:
        return _error(405, f"/{unknown} is read-only: only GET is allowed")
    raise NotFoundException(detail=f"no SCIM endpoint /{unknown}")


_DISCOVERY = ("ServiceProviderConfig", "Schemas", "ResourceTypes")
