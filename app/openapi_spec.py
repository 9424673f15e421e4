"""The OpenAPI 3.0 document served at GET /api/openapi.json.

CRM paths and schemas are generated from app.entities.ENTITIES (the same
declarations the repository and validation use); every other endpoint is one
row of OPERATIONS below. The document is built from these declarations, not
from the URL map, so tests/test_openapi.py can compare the two and fail on an
endpoint nobody described (or a description of an endpoint that is gone).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from app.entities import ENTITIES, Entity, Field
from app.permissions import ROLES
from app.repository import DEFAULT_LIMIT, MAX_LIMIT

Schema = dict[str, Any]
OPENAPI_VERSION = "3.0.3"
_RULE_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")


def openapi_path(rule: str) -> str:
    """A werkzeug rule (`/api/v1/contacts/<row_id>`) as an OpenAPI path (`/api/v1/contacts/{row_id}`)."""
    return _RULE_VARIABLE.sub(r"{\1}", rule)


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: tuple[str, ...] = (), **properties: Schema) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def text(max_len: int = 200, **extra: Any) -> Schema:
    return {"type": "string", "maxLength": max_len, **extra}


UUID: Schema = {"type": "string", "format": "uuid"}
STAMP: Schema = {"type": "string", "format": "date-time"}
NULLABLE_UUID: Schema = {**UUID, "nullable": True}
ROLE: Schema = {"type": "string", "enum": list(ROLES)}
PAGE_QUERY = (
    ("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}),
    ("cursor", {"type": "string", "description": "nextCursor of the previous page"}),
)


@dataclass(frozen=True)
class Op:
    """One non-CRM operation: what it does, who may call it, what it takes and returns."""

    summary: str
    access: str  # as declared on the view: public, login, member, "<resource>:<action>", roles, "a or b"
    tag: str
    body: Schema | None = None
    response: Schema | None = None  # None: no body (204)
    status: int = 200
    query: tuple[tuple[str, Schema], ...] = ()
    idempotent: bool = False  # takes an Idempotency-Key header (app/idempotency.py)
    media_type: str = "application/json"


# ----- schemas shared by the declared operations ------------------------------------------------
COMPONENTS: dict[str, Schema] = {
    "Error": obj(("error",), error=obj(
        ("code", "message"),
        code={"type": "string", "example": "validation_error"},
        message={"type": "string"},
        fields={"type": "object", "additionalProperties": {"type": "string"},
                "description": "per-field messages (validation errors only)"},
    )),
    "User": obj(("id", "email", "name"), id=UUID, email={"type": "string"}, name={"type": "string"},
                emailVerified={"type": "boolean"}, role={"type": "string", "enum": ["user", "admin"]},
                createdAt=STAMP, updatedAt=STAMP),
    "SignedIn": obj(("token", "user"), redirect={"type": "boolean"}, token={"type": "string"},
                    url={"type": "string", "nullable": True}, user=ref("User")),
    "Organization": obj(("id", "name", "slug"), id=UUID, name={"type": "string"}, slug={"type": "string"},
                        logo={"type": "string", "nullable": True},
                        metadata={"type": "object", "nullable": True}, createdAt=STAMP),
    "Member": obj(("id", "organizationId", "userId", "role"), id=UUID, organizationId=UUID, userId=UUID,
                  role=ROLE, createdAt=STAMP,
                  user=obj(id=UUID, name={"type": "string"}, email={"type": "string"})),
    "Invitation": obj(("id", "organizationId", "email", "role", "status"), id=UUID, organizationId=UUID,
                      email={"type": "string"}, role=ROLE, status={"type": "string"},
                      inviterId=NULLABLE_UUID, expiresAt=STAMP, createdAt=STAMP),
    "FullOrganization": {"allOf": [ref("Organization"), obj(
        members={"type": "array", "items": ref("Member"), "description": "admins and owners only"},
        invitations={"type": "array", "items": ref("Invitation"), "description": "admins and owners only"},
    )]},
    "Conversation": obj(("id", "title"), id=UUID, org_id=UUID, title={"type": "string"},
                        created_by=NULLABLE_UUID, created_at=STAMP, updated_at=STAMP),
    "Message": obj(("id", "role", "content"), id=UUID, conversation_id=UUID,
                   role={"type": "string", "enum": ["user", "assistant", "system", "tool"]},
                   content={"type": "string"}, created_by=NULLABLE_UUID, created_at=STAMP),
    "ConversationWithMessages": {"allOf": [ref("Conversation"), obj(
        messages={"type": "array", "items": ref("Message")})]},
    "AuditEntry": obj(("id", "occurred_at", "action", "entity", "outcome"), id=UUID, occurred_at=STAMP,
                      actor_user_id=NULLABLE_UUID, action={"type": "string"}, entity={"type": "string"},
                      entity_id={"type": "string", "nullable": True},
                      changed_fields={"type": "array", "items": {"type": "string"}, "nullable": True},
                      outcome={"type": "string"}, request_id={"type": "string", "nullable": True},
                      detail={"type": "object", "nullable": True}),
    "SemanticEntity": obj(("name", "version"), name={"type": "string"}, version={"type": "integer"},
                          yamlContent={"type": "string"}, updatedBy=NULLABLE_UUID,
                          createdAt=STAMP, updatedAt=STAMP),
}


def page_of(item: Schema) -> Schema:
    return obj(("data", "nextCursor"), data={"type": "array", "items": item},
               nextCursor={"type": "string", "nullable": True})


ORG_ID_ECHO = {"organizationId": {**UUID, "description": "optional; must be the session's org (else 403)"}}
EMAIL = text(254, format="email")
SLUG = text(63, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
ORG_FIELDS: dict[str, Schema] = {"name": text(), "slug": SLUG, "logo": {**text(2000), "nullable": True},
                                 "metadata": {"type": "object", "nullable": True}}

NULLABLE_INT: Schema = {"type": "integer", "nullable": True}
ORG_SETTING_FIELDS: dict[str, Schema] = {
    "queryRowLimit": NULLABLE_INT, "queryStatementTimeoutMs": NULLABLE_INT, "queryRatePerMinute": NULLABLE_INT,
    "queryMaxInFlight": NULLABLE_INT}
COMPONENTS["OrgSettings"] = obj(
    ("settings", "effective", "bounds", "version"), settings=obj(**ORG_SETTING_FIELDS),
    effective=obj(**{k: {"type": "integer"} for k in ORG_SETTING_FIELDS}), bounds={"type": "object"},
    version={"type": "integer"}, updatedAt={**STAMP, "nullable": True}, updatedBy=NULLABLE_UUID)

# (METHOD, OpenAPI path) -> Op, for every endpoint outside the generated CRM set.
OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", "/api/auth/sign-up/email"): Op(
        "Create a user and sign in (422 if the email is taken)", "public", "auth",
        body=obj(("email", "password", "name"), email=EMAIL, password=text(128, minLength=8), name=text()),
        response=ref("SignedIn")),
    ("POST", "/api/auth/sign-in/email"): Op(
        "Sign in; the session is bound to the user's earliest org", "public", "auth",
        body=obj(("email", "password"), email=EMAIL, password=text(128)), response=ref("SignedIn")),
    ("POST", "/api/auth/sign-out"): Op(
        "Revoke the presented session (idempotent) and clear the cookie", "public", "auth",
        response=obj(success={"type": "boolean"})),
    ("GET", "/api/auth/get-session"): Op(
        "The session, its active org and role, and the user", "login", "auth",
        response=obj(("session", "user"), user=ref("User"), session=obj(
            id=UUID, userId=UUID, activeOrganizationId=NULLABLE_UUID,
            role={**ROLE, "nullable": True}, expiresAt=STAMP, createdAt=STAMP))),
    ("POST", "/api/auth/organization/create"): Op(
        "Create an org; the caller becomes its owner (409 if the slug is taken)", "login", "organizations",
        body=obj(("name", "slug"), **ORG_FIELDS), response=ref("FullOrganization"), idempotent=True),
    ("GET", "/api/auth/organization/list"): Op(
        "The caller's organizations", "login", "organizations",
        response={"type": "array", "items": ref("Organization")}),
    ("GET", "/api/auth/organization/get-full-organization"): Op(
        "The session's org (with members and invitations for admins and owners)", "member", "organizations",
        query=(("organizationSlug", text(63)),), response=ref("FullOrganization")),
    ("POST", "/api/auth/organization/set-active"): Op(
        "Switch orgs: a fresh token (header set-auth-token and cookie) bound to the org; the old one is revoked",
        "login", "organizations",
        body=obj(organizationId=NULLABLE_UUID, organizationSlug=text(63)),
        response={**ref("FullOrganization"), "nullable": True}),
    ("POST", "/api/auth/organization/update"): Op(
        "Rename or re-slug the session's org", "organization:update", "organizations",
        body=obj(("data",), data=obj(**ORG_FIELDS), **ORG_ID_ECHO), response=ref("Organization")),
    ("POST", "/api/auth/organization/delete"): Op(
        "Delete the session's org and everything it owns", "organization:delete", "organizations",
        body=obj(**ORG_ID_ECHO), response=ref("Organization")),
    ("GET", "/api/auth/organization/list-members"): Op(
        "The org's members", "member:read", "members",
        response=obj(("members", "total"), members={"type": "array", "items": ref("Member")},
                     total={"type": "integer"})),
    ("POST", "/api/auth/organization/invite-member"): Op(
        "Invite by email (the link is logged: no mail server)", "member:create", "members",
        body=obj(("email", "role"), email=EMAIL, role=ROLE, **ORG_ID_ECHO), response=ref("Invitation"),
        idempotent=True),
    ("POST", "/api/auth/organization/accept-invitation"): Op(
        "Join the invitation's org (the session stays on its org)", "login", "members",
        body=obj(("invitationId",), invitationId=UUID),
        response=obj(invitation=ref("Invitation"), member=ref("Member"))),
    ("POST", "/api/auth/organization/update-member-role"): Op(
        "Change a member's role (an org keeps at least one owner)", "member:update", "members",
        body=obj(("memberId", "role"), memberId=UUID, role=ROLE, **ORG_ID_ECHO), response=ref("Member")),
    ("POST", "/api/auth/organization/remove-member"): Op(
        "Remove a member by id or email (not the last owner)", "member:delete", "members",
        body=obj(("memberIdOrEmail",), memberIdOrEmail=text(254), **ORG_ID_ECHO),
        response=obj(member=ref("Member"))),
    ("POST", "/api/auth/organization/leave"): Op(
        "Leave the session's org (not the last owner)", "member", "members", response=obj(member=ref("Member"))),
    ("GET", "/api/v1/conversations"): Op(
        "The org's conversations, most recently active first", "conversation:read", "conversations",
        query=PAGE_QUERY, response=page_of(ref("Conversation"))),
    ("POST", "/api/v1/conversations"): Op(
        "Start a conversation", "conversation:create", "conversations", status=201,
        body={**obj(title=text(300, minLength=1)), "additionalProperties": False},
        response=ref("ConversationWithMessages"), idempotent=True),
    ("GET", "/api/v1/conversations/{conversation_id}"): Op(
        "A conversation with its messages, oldest first", "conversation:read", "conversations",
        response=ref("ConversationWithMessages")),
    ("DELETE", "/api/v1/conversations/{conversation_id}"): Op(
        "Delete a conversation and its messages", "conversation:delete", "conversations"),
    ("POST", "/api/v1/conversations/{conversation_id}/messages"): Op(
        "Append a user or assistant message", "conversation:create", "conversations", status=201,
        body={**obj(("content",), role={"type": "string", "enum": ["user", "assistant"]},
                    content=text(200_000, minLength=1)), "additionalProperties": False},
        response=ref("Message"), idempotent=True),
    ("GET", "/api/v1/admin/audit"): Op(
        "The org's audit trail, newest first", "roles:admin,owner", "audit",
        query=(("actor", UUID), ("action", {"type": "string"}), ("entity", {"type": "string"}),
               ("outcome", {"type": "string"}), ("since", {"type": "string", "description": "ISO 8601"}),
               ("until", {"type": "string", "description": "ISO 8601, exclusive"}), *PAGE_QUERY),
        response=page_of(ref("AuditEntry"))),
    ("GET", "/api/v1/admin/semantic/org/entities"): Op(
        "The org's semantic entities", "semantic:read", "semantic",
        response=obj(("data",), data={"type": "array", "items": ref("SemanticEntity")})),
    ("GET", "/api/v1/admin/semantic/org/entities/{name}"): Op(
        "One semantic entity", "semantic:read", "semantic", response=ref("SemanticEntity")),
    ("PUT", "/api/v1/admin/semantic/org/entities/{name}"): Op(
        "Create (201) or replace (200) a semantic entity from YAML", "semantic:update", "semantic",
        body=obj(("yamlContent",), yamlContent={"type": "string"}),
        response={"allOf": [ref("SemanticEntity"), obj(changed={"type": "boolean"}, synced={"type": "boolean"})]}),
    ("DELETE", "/api/v1/admin/semantic/org/entities/{name}"): Op(
        "Delete a semantic entity", "semantic:update", "semantic"),
    ("POST", "/api/v1/semantic/explore"): Op(
        "ls, cat or grep in the session org's semantic layer", "semantic:read or no org", "semantic",
        body=obj(("command",), command={"type": "string", "enum": ["ls", "cat", "grep"]},
                 path={"type": "string"}, pattern={"type": "string"}, regex={"type": "boolean"}),
        response={"type": "object"}),
    ("GET", "/api/v1/admin/connections"): Op(
        "Connection pools: every org's for platform admins, the session org's for its admins and owners",
        "platform_admin or roles:admin,owner", "admin",
        response=obj(("scope",), scope={"type": "string", "enum": ["platform", "organization"]}, org_id=UUID)),
    ("GET", "/api/v1/admin/organizations"): Op(
        "Every organization with its member count (platform admins; audited)", "platform_admin", "platform",
        response=obj(("data",), data={"type": "array", "items": obj(
            ("id", "name", "slug"), id=UUID, name={"type": "string"}, slug={"type": "string"},
            createdAt=STAMP, memberCount={"type": "integer"})})),
    ("GET", "/api/v1/admin/organizations/{target_id}"): Op(
        "One organization with its members and invitations (platform admins; audited in the org too)",
        "platform_admin", "platform", response={"allOf": [ref("Organization"), obj(
            members={"type": "array", "items": ref("Member")},
            invitations={"type": "array", "items": {"type": "object"}})]}),
    ("GET", "/api/v1/admin/organizations/{target_id}/stats"): Op(
        "Counts of an organization's conversations, members and queries (platform admins; audited)",
        "platform_admin", "platform", response=obj(
            ("organizationId",), organizationId=UUID, conversations={"type": "integer"},
            members={"type": "integer"}, queries={"type": "integer"})),
    ("GET", "/api/openapi.json"): Op("This document", "public", "meta", response={"type": "object"}),
    ("GET", "/healthz"): Op("Liveness: the process answers (touches no database)", "public", "operations",
                            response=obj(("status",), status={"type": "string", "enum": ["ok"]})),
    ("GET", "/readyz"): Op(
        "Readiness: the database (and Redis, when the cache uses it) answered within READINESS_TIMEOUT_S; "
        "else 503 not_ready with Retry-After, and checks naming what failed", "public", "operations",
        response=obj(("status", "checks"), status={"type": "string"}, checks={
            "type": "object", "additionalProperties": obj(
                ("status",), status={"type": "string", "enum": ["ok", "failed"]}, ms={"type": "number"},
                error={"type": "string"})})),
    ("GET", "/metrics"): Op(
        "Prometheus metrics; needs Authorization: Bearer <METRICS_TOKEN> (not a session), off while unset",
        "public", "operations", response={"type": "string"}, media_type="text/plain"),
    ("POST", "/api/v1/query"): Op(
        "Run one read-only SQL query through the gateway for the session's org (400 sql_rejected, sql_invalid "
        "or query_timeout; 429 rate_limited or too_many_concurrent_queries with Retry-After; 503 "
        "agent_capacity_exhausted)", "member", "query",
        body=obj(("sql",), sql={"type": "string"}), response=obj(
            ("columns", "rows", "rowCount", "truncated", "cached"),
            columns={"type": "array", "items": obj(("name", "type"), name={"type": "string"},
                                                   type={"type": "string"})},
            rows={"type": "array", "items": {"type": "array", "items": {}}},
            rowCount={"type": "integer"}, truncated={"type": "boolean"}, cached={"type": "boolean"},
            truncatedReason={"type": "string", "enum": ["row_limit", "result_bytes"]})),
    ("POST", "/api/v1/admin/cache/flush"): Op(
        "Flush cached query results: the session org's (admins, owners) or every org's (platform admins)",
        "scope=organization: roles:admin,owner; scope=all: platform_admin", "query",
        body=obj(scope={"type": "string", "enum": ["organization", "all"]}),
        response=obj(("scope", "flushed"), scope={"type": "string"}, flushed={"type": "integer"})),
    ("GET", "/api/v1/settings"): Op(
        "The org's settings: agent query limits, effective values and platform bounds", "settings:read",
        "settings", response=ref("OrgSettings")),
    ("PATCH", "/api/v1/settings"): Op(
        "Change agent query limits within the platform bounds (null: platform default); audited",
        "settings:update", "settings", body={**obj(**ORG_SETTING_FIELDS), "additionalProperties": False},
        response=ref("OrgSettings")),
}


# ----- CRM: generated from app.entities ------------------------------------------------------------
def field_schema(field: Field, *, writing: bool) -> Schema:
    """A column as JSON: decimals are written as numbers and read back as exact strings."""
    kind = field.kind
    schema: Schema
    if kind in ("text", "email", "choice"):
        schema = {"type": "string"}
        if field.max_len is not None:
            schema["maxLength"] = field.max_len
        if kind == "email":
            schema["format"] = "email"
        if kind == "choice":
            schema["enum"] = list(field.choices)
        if field.pattern is not None:
            schema["pattern"] = f"^(?:{field.pattern})$"
        if writing and field.required:
            schema["minLength"] = 1
    elif kind == "int" or (kind == "decimal" and writing):
        schema = {"type": "integer" if kind == "int" else "number"}
        if field.minimum is not None:
            schema["minimum"] = field.minimum
        if field.maximum is not None:
            schema["maximum"] = field.maximum
    elif kind == "decimal":
        schema = {"type": "string", "format": "decimal", "description": "an exact amount"}
    else:
        schema = {"bool": {"type": "boolean"}, "date": {"type": "string", "format": "date"},
                  "datetime": STAMP, "ref": UUID}[kind]
    nullable = field.nullable and not field.required
    if nullable and "enum" in schema:
        schema["enum"] = [*schema["enum"], None]
    return {**schema, "nullable": True} if nullable else dict(schema)


def entity_schemas(entity: Entity) -> dict[str, Schema]:
    """<Name>, <Name>Create and <Name>Update: the row as read, and the bodies POST and PATCH accept."""
    name = component_name(entity)
    row = obj(("id", "org_id"), id=UUID, org_id=UUID,
              **{f.name: field_schema(f, writing=False) for f in entity.fields})
    writable = {f.name: field_schema(f, writing=True) for f in entity.fields if f.writable}
    required = tuple(f.name for f in entity.fields if f.required)
    create = {**obj(required, **writable), "additionalProperties": False}
    update = {**obj(**writable), "additionalProperties": False, "minProperties": 1}
    return {name: row, f"{name}Create": create, f"{name}Update": update}


def component_name(entity: Entity) -> str:
    return "".join(part.capitalize() for part in (entity.singular or entity.name).replace("-", " ").split())


IDEMPOTENCY_KEY: Schema = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    "description": "Makes a retry safe: the same key with the same body (same org and user, within "
                   "ATLAS_IDEMPOTENCY_TTL_S) returns the first response, marked Idempotent-Replayed: true, "
                   "without writing again; another body is 422 idempotency_key_reused; while the first is "
                   "still running, 409 idempotency_in_flight.",
}


def _query_param(name: str, schema: Schema, description: str = "") -> Schema:
    param: Schema = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        param["description"] = description
    return param


def _list_params(entity: Entity) -> list[Schema]:
    params = [_query_param(f.name, {"type": "string"}, f"only rows whose {f.name} equals this ({f.kind})")
              for f in entity.filterable.values()]
    params.append(_query_param("sort", {"type": "string", "enum": list(entity.sortable),
                                        "default": entity.default_sort}))
    params.append(_query_param("order", {"type": "string", "enum": ["asc", "desc"], "default": "asc"}))
    params.extend(_query_param(n, s) for n, s in PAGE_QUERY)
    return params


def crm_operations(entity: Entity) -> dict[str, dict[str, Schema]]:
    """The five CRUD operations of one entity, by path and method."""
    label, name = entity.singular or entity.name, component_name(entity)
    collection, item = f"/api/v1/{entity.name}", f"/api/v1/{entity.name}/{{row_id}}"
    row_id = {"name": "row_id", "in": "path", "required": True, "schema": UUID}
    tag = entity.name
    return {
        collection: {
            "get": _operation(f"List {entity.name} (keyset pages)", tag, f"{entity.table}_list",
                              page_of(ref(name)), parameters=_list_params(entity)),
            "post": _operation(f"Create a {label}", tag, f"{entity.table}_create", ref(name), status=201,
                               body=ref(f"{name}Create"), idempotent=True),
        },
        item: {
            "parameters": [row_id],
            "get": _operation(f"One {label} (another org's id is a 404)", tag, f"{entity.table}_get", ref(name)),
            "patch": _operation(f"Change fields of a {label}", tag, f"{entity.table}_update", ref(name),
                                body=ref(f"{name}Update")),
            "delete": _operation(f"Delete a {label}", tag, f"{entity.table}_delete", None, status=204),
        },
    }


# ----- assembling the document ---------------------------------------------------------------------
def _operation(summary: str, tag: str, operation_id: str, response: Schema | None, *, status: int = 200,
               body: Schema | None = None, parameters: list[Schema] | None = None,
               public: bool = False, access: str = "member", idempotent: bool = False,
               media_type: str = "application/json") -> Schema:
    ok: Schema = {"description": "success"}
    if response is not None:
        ok["content"] = {media_type: {"schema": response}}
    op: Schema = {
        "summary": summary, "tags": [tag], "operationId": operation_id, "x-atlas-access": access,
        "responses": {str(status): ok, "default": {
            "description": "any error, in the one error shape", "content": {"application/json": {
                "schema": ref("Error")}}}},
    }
    if public:
        op["security"] = []
    if idempotent:
        parameters = [*(parameters or []), IDEMPOTENCY_KEY]
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def _operation_id(method: str, path: str) -> str:
    return method.lower() + "_" + re.sub(r"[^A-Za-z0-9]+", "_", path.removeprefix("/api/")).strip("_")


def _declared(method: str, path: str, op: Op) -> Schema:
    params = [_query_param(name, schema) for name, schema in op.query]
    return _operation(op.summary, op.tag, _operation_id(method, path), op.response, status=op.status,
                      body=op.body, parameters=params, public=op.access == "public", access=op.access,
                      idempotent=op.idempotent, media_type=op.media_type)


def _path_parameters(path: str) -> list[Schema]:
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{([^{}]+)}", path)]


def build_document(*, server_url: str | None = None) -> Schema:
    """The whole document; deterministic, so it can be compared and cached."""
    paths: dict[str, dict[str, Schema]] = {}
    schemas = dict(COMPONENTS)
    for entity in ENTITIES.values():
        paths.update(crm_operations(entity))
        schemas.update(entity_schemas(entity))
    for (method, path), op in OPERATIONS.items():
        item = paths.setdefault(path, {})
        if "{" in path and "parameters" not in item:
            item["parameters"] = _path_parameters(path)
        item[method.lower()] = _declared(method, path, op)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Atlas API", "version": "1",
                 "description": "Multi-tenant CRM and organization API. Every request acts in the one "
                                "organization of its session; errors share one shape (Error)."},
        "servers": [{"url": server_url or "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "better-auth.session_token"},
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "the session token, as Authorization: Bearer <token>"},
            },
        },
        "security": [{"sessionCookie": []}, {"bearer": []}],
    }


def documented_operations(document: Schema) -> set[tuple[str, str]]:
    """(METHOD, path) of every operation in a document."""
    methods = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
    return {(m.upper(), p) for p, item in document["paths"].items() for m in item if m in methods}
