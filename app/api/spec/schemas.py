"""Schema building blocks, the response components, and request-body models as OpenAPI 3.0 components.

Request bodies are not written here: they are the pydantic models of
app/bodies, turned into OpenAPI 3.0 by `body_components` (pydantic writes JSON
Schema 2020-12: `anyOf [X, null]` becomes `nullable`, `$defs` become
components, titles and null defaults are dropped). Responses are not modelled
yet, so their schemas are declared here.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.bodies import Body
from app.bodies.requests import SettingsChange
from app.roles import ROLES

Schema = dict[str, Any]
REF = "#/components/schemas/{model}"


def ref(name: str) -> Schema:
    return {"$ref": REF.format(model=name)}


def obj(required: tuple[str, ...] = (), /, **properties: Schema) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def page_of(item: Schema) -> Schema:
    return obj(("data", "nextCursor"), data={"type": "array", "items": item},
               nextCursor={"type": "string", "nullable": True})


def body_components(models: Iterable[type[Body]]) -> dict[str, Schema]:
    """Each model (and the models it nests) as an OpenAPI 3.0 schema, by class name."""
    components: dict[str, Schema] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=REF)
        for name, nested in [*schema.pop("$defs", {}).items(), (model.__name__, schema)]:
            nested.pop("description", None)  # a model's docstring is written for this codebase's readers
            components[name] = oas30(nested)
    return components


def oas30(schema: Any) -> Any:
    """A JSON Schema 2020-12 value in OpenAPI 3.0's dialect."""
    if isinstance(schema, list):
        return [oas30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {k: ({name: oas30(p) for name, p in v.items()} if k in ("properties", "$defs") else oas30(v))
              for k, v in schema.items() if k != "title" and not (k == "default" and v is None)}
    options = schema.get("anyOf", ())
    if {"type": "null"} in options:
        rest = [option for option in options if option != {"type": "null"}]
        nullable = rest[0] if len(rest) == 1 and "$ref" not in rest[0] else {"anyOf": rest}
        if "enum" in nullable:
            nullable = {**nullable, "enum": [*nullable["enum"], None]}
        schema = {**{k: v for k, v in schema.items() if k != "anyOf"}, **nullable, "nullable": True}
    return schema


UUID: Schema = {"type": "string", "format": "uuid"}
STAMP: Schema = {"type": "string", "format": "date-time"}
NULLABLE_UUID: Schema = {**UUID, "nullable": True}
ROLE: Schema = {"type": "string", "enum": list(ROLES)}
NULLABLE_INT: Schema = {"type": "integer", "nullable": True}
SETTINGS = tuple(SettingsChange.model_fields)

# ----- what the declared operations answer ------------------------------------------------------
RESPONSES: dict[str, Schema] = {
    "Error": obj(
        ("code", "message"),
        code={"type": "string", "example": "validation_error",
              "description": "lower-case under /api/v1; Better Auth's upper-snake codes under /api/auth"},
        message={"type": "string"},
        fields={"type": "object", "additionalProperties": {"type": "string"},
                "description": "per-field messages (validation errors only)"},
    ),
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
        members={"type": "array", "items": ref("Member")},
        invitations={"type": "array", "items": ref("Invitation"), "description": "admins and owners only"},
    )]},
    "Conversation": obj(("id", "title"), id=UUID, org_id=UUID, title={"type": "string"}, team_id=NULLABLE_UUID,
                        created_by=NULLABLE_UUID, created_at=STAMP, updated_at=STAMP),
    "Message": obj(("id", "role", "content"), id=UUID, conversation_id=UUID,
                   role={"type": "string", "enum": ["user", "assistant", "system", "tool"]},
                   content={"type": "string"}, created_by=NULLABLE_UUID, created_at=STAMP),
    "ConversationWithMessages": {"allOf": [ref("Conversation"), obj(
        messages={"type": "array", "items": ref("Message")})]},
    "AuditEntry": obj(("id", "occurred_at", "action", "entity", "outcome"), id=UUID, occurred_at=STAMP,
                      actor_user_id=NULLABLE_UUID, api_key_id=NULLABLE_UUID,
                      action={"type": "string"}, entity={"type": "string"},
                      entity_id={"type": "string", "nullable": True},
                      changed_fields={"type": "array", "items": {"type": "string"}, "nullable": True},
                      outcome={"type": "string"}, request_id={"type": "string", "nullable": True},
                      detail={"type": "object", "nullable": True}),
    "ApiKey": obj(("id", "name", "role", "start", "createdAt"), id=UUID, name={"type": "string"}, role=ROLE,
                  start={"type": "string", "description": "the key's first characters, to recognise it"},
                  createdBy=NULLABLE_UUID, createdAt=STAMP, expiresAt={**STAMP, "nullable": True},
                  revokedAt={**STAMP, "nullable": True}, revokedBy=NULLABLE_UUID,
                  lastUsedAt={**STAMP, "nullable": True}),
    "SemanticEntity": obj(("name", "version"), name={"type": "string"}, version={"type": "integer"},
                          yamlContent={"type": "string"}, updatedBy=NULLABLE_UUID,
                          createdAt=STAMP, updatedAt=STAMP),
    "OrgSettings": obj(
        ("settings", "effective", "bounds", "version"), settings=obj(**dict.fromkeys(SETTINGS, NULLABLE_INT)),
        effective=obj(**{k: {"type": "integer"} for k in SETTINGS}), bounds={"type": "object"},
        version={"type": "integer"}, updatedAt={**STAMP, "nullable": True}, updatedBy=NULLABLE_UUID),
    "Job": obj(
        ("id", "kind", "status", "attempts", "maxAttempts", "progress"), id=UUID, kind={"type": "string"},
        payload={"type": "object"},
        status={"type": "string", "enum": ["queued", "running", "succeeded", "dead", "canceled"]},
        attempts={"type": "integer"}, maxAttempts={"type": "integer"}, runAfter=STAMP,
        startedAt={**STAMP, "nullable": True}, leaseExpiresAt={**STAMP, "nullable": True},
        lastError={"type": "string", "nullable": True},
        progress=obj(("done",), done={"type": "integer"}, total=NULLABLE_INT,
                     message={"type": "string", "nullable": True}),
        schedule={"type": "string", "nullable": True}, result={"type": "object", "nullable": True},
        createdBy=NULLABLE_UUID, apiKeyId=NULLABLE_UUID, createdAt=STAMP, updatedAt=STAMP,
        finishedAt={**STAMP, "nullable": True}, teamId=NULLABLE_UUID),
    "JobResult": obj(("id", "jobId", "createdAt", "expiresAt", "result"), id=UUID, jobId=UUID,
                     createdAt=STAMP, expiresAt=STAMP, result={"type": "object"}),
}

# ----- response shapes several operations share (each operation names its own in its @endpoint) -------------
STATUS: Schema = obj(("status",), status={"type": "boolean"})
SESSION: Schema = obj(
    ("id", "token", "userId", "expiresAt"), id=UUID,
    token={"type": "string", "nullable": True,
           "description": "the caller's own token for its session; for the others, a revocation handle"},
    userId=UUID, activeOrganizationId=NULLABLE_UUID, role={**ROLE, "nullable": True}, expiresAt=STAMP,
    createdAt=STAMP, updatedAt=STAMP, ipAddress={"type": "string", "nullable": True},
    userAgent={"type": "string", "nullable": True})
INVITATION_IN_ORG: Schema = {"allOf": [ref("Invitation"), obj(organizationName={"type": "string"})]}
MEMBER_OBJECT: Schema = obj(member=ref("Member"))
CONNECTION: Schema = obj(
    ("id", "url", "host", "port", "database", "username", "hasPassword", "version"),
    id={"type": "string"}, description={"type": "string"}, url={"type": "string"}, host={"type": "string"},
    port={"type": "integer"}, database={"type": "string"}, username={"type": "string"},
    hasPassword={"type": "boolean"}, options={"type": "object"}, version={"type": "integer"},
    createdAt=STAMP, updatedAt=STAMP, createdBy=NULLABLE_UUID)
AGENT_USAGE: Schema = obj(
    ("organizationId", "days", "tokensPerDay", "tokensToday", "data"), organizationId=UUID,
    days={"type": "integer"}, tokensPerDay={"type": "integer"}, tokensToday={"type": "integer"},
    data={"type": "array", "items": obj(
        ("day", "asks", "steps", "queries", "refused", "promptTokens", "completionTokens", "tokens", "timeMs"),
        day={"type": "string", "format": "date"}, asks={"type": "integer"}, steps={"type": "integer"},
        queries={"type": "integer"}, refused={"type": "integer"}, promptTokens={"type": "integer"},
        completionTokens={"type": "integer"}, tokens={"type": "integer"}, timeMs={"type": "integer"})})
