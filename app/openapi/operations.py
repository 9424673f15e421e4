"""Every endpoint outside the generated CRM set: what it does, who may call it, what it takes and answers.

Only what cannot be derived is written here: summaries, access, response
schemas not yet modelled, query parameters. Request bodies name their model
(app/bodies/requests.py), which both validates the request and is the schema.
"""
from __future__ import annotations

from app.bodies import requests as r
from app.bodies.connections import ConnectionChange, NewConnection
from app.openapi.auth_operations import AUTH_OPERATIONS, SESSION
from app.openapi.op import Op
from app.openapi.role_operations import ROLE_OPERATIONS
from app.openapi.schemas import NULLABLE_UUID, PAGE_QUERY, STAMP, UUID, obj, page_of, ref
from app.openapi.scim_operations import SCIM_OPERATIONS
from app.openapi.team_operations import TEAM_OPERATIONS

_MEMBER = obj(member=ref("Member"))
_CONNECTION = obj(
    ("id", "url", "host", "port", "database", "username", "hasPassword", "version"),
    id={"type": "string"}, description={"type": "string"}, url={"type": "string"}, host={"type": "string"},
    port={"type": "integer"}, database={"type": "string"}, username={"type": "string"},
    hasPassword={"type": "boolean"}, options={"type": "object"}, version={"type": "integer"},
    createdAt=STAMP, updatedAt=STAMP, createdBy=NULLABLE_UUID)

_AGENT_USAGE = obj(
    ("organizationId", "days", "tokensPerDay", "tokensToday", "data"), organizationId=UUID,
    days={"type": "integer"}, tokensPerDay={"type": "integer"}, tokensToday={"type": "integer"},
    data={"type": "array", "items": obj(
        ("day", "asks", "steps", "queries", "refused", "promptTokens", "completionTokens", "tokens", "timeMs"),
        day={"type": "string", "format": "date"}, asks={"type": "integer"}, steps={"type": "integer"},
        queries={"type": "integer"}, refused={"type": "integer"}, promptTokens={"type": "integer"},
        completionTokens={"type": "integer"}, tokens={"type": "integer"}, timeMs={"type": "integer"})})

# (METHOD, OpenAPI path) -> Op
OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", "/api/auth/sign-up/email"): Op(
        "Create a user and sign in (422 if the email is taken)", "public", "auth", r.SignUp, ref("SignedIn")),
    ("POST", "/api/auth/sign-in/email"): Op(
        "Sign in; the session is bound to the user's earliest org", "public", "auth", r.SignIn, ref("SignedIn")),
    ("POST", "/api/auth/sign-out"): Op(
        "Revoke the presented session (idempotent) and clear the cookie", "public", "auth",
        response=obj(success={"type": "boolean"})),
    ("GET", "/api/auth/get-session"): Op(
        "The session, its active org and role, and the user; null without a live session", "public", "auth",
        response={**obj(("session", "user"), user=ref("User"), session=SESSION), "nullable": True}),
    ("POST", "/api/auth/organization/create"): Op(
        "Create an org; the caller becomes its owner and it becomes active (a fresh token, see set-active);"
        " 400 ORGANIZATION_ALREADY_EXISTS if the slug is taken", "login", "organizations",
        r.NewOrganization, ref("FullOrganization"), idempotent=True),
    ("GET", "/api/auth/organization/list"): Op(
        "The caller's organizations", "login", "organizations",
        response={"type": "array", "items": ref("Organization")}),
    ("GET", "/api/auth/organization/get-full-organization"): Op(
        "The session's org with its members (invitations for admins and owners); null without one", "login",
        "organizations", query=(("organizationSlug", {"type": "string", "maxLength": 63}),
                                ("membersLimit", {"type": "integer", "minimum": 0})),
        response={**ref("FullOrganization"), "nullable": True}),
    ("POST", "/api/auth/organization/set-active"): Op(
        "Switch orgs: a fresh token (header set-auth-token and cookie) bound to the org; the old one is revoked",
        "login", "organizations", r.SetActive, {**ref("Organization"), "nullable": True}),
    ("POST", "/api/auth/organization/update"): Op(
        "Rename or re-slug the session's org", "organization:update", "organizations",
        r.UpdateOrganization, ref("Organization")),
    ("POST", "/api/auth/organization/delete"): Op(
        "Delete the session's org and everything it owns", "organization:delete", "organizations",
        r.DeleteOrganization, ref("Organization")),
    ("GET", "/api/auth/organization/list-members"): Op(
        "The org's members (any member may list them)", "member", "members",
        query=(("limit", {"type": "integer", "minimum": 0}), ("offset", {"type": "integer", "minimum": 0})),
        response=obj(("members", "total"), members={"type": "array", "items": ref("Member")},
                     total={"type": "integer"})),
    ("POST", "/api/auth/organization/invite-member"): Op(
        "Invite by email (the link is logged: no mail server); a person's session only, not an API key", "member:create", "members",
        r.InviteMember, ref("Invitation"), idempotent=True),
    ("POST", "/api/auth/organization/accept-invitation"): Op(
        "Join the invitation's org; it becomes active (a fresh token, see set-active)", "login", "members",
        r.AcceptInvitation, obj(invitation=ref("Invitation"), member=ref("Member"))),
    ("POST", "/api/auth/organization/update-member-role"): Op(
        "Change a member's role (an org keeps at least one owner; a person's session only); a demotion cancels the "
        "member's pending invitations above the new role", "member:update", "members",
        r.UpdateMemberRole, ref("Member")),
    ("POST", "/api/auth/organization/remove-member"): Op(
        "Remove a member by id or email (not the last owner; a person's session only); revokes their API keys, "
        "cancels their live jobs and pending invitations", "member:delete", "members", r.RemoveMember, _MEMBER),
    ("POST", "/api/auth/organization/leave"): Op(
        "Leave the session's org (not the last owner); the member that left; their API keys, live jobs and "
        "pending invitations end with it", "member", "members",
        response=ref("Member")),
    ("GET", "/api/v1/conversations"): Op(
        "The org's conversations, most recently active first", "conversation:read", "conversations",
        query=PAGE_QUERY, response=page_of(ref("Conversation"))),
    ("POST", "/api/v1/conversations"): Op(
        "Start a conversation", "conversation:create", "conversations", r.NewConversation,
        ref("ConversationWithMessages"), status=201, idempotent=True),
    ("GET", "/api/v1/conversations/{conversation_id}"): Op(
        "A conversation with its messages, oldest first", "conversation:read", "conversations",
        response=ref("ConversationWithMessages")),
    ("DELETE", "/api/v1/conversations/{conversation_id}"): Op(
        "Delete a conversation and its messages", "conversation:delete", "conversations"),
    ("POST", "/api/v1/conversations/{conversation_id}/messages"): Op(
        "Append a user or assistant message", "conversation:create", "conversations", r.NewMessage,
        ref("Message"), status=201, idempotent=True),
    ("POST", "/api/v1/conversations/{conversation_id}/ask"): Op(
        "Ask the analytics agent a question in plain language: server-sent events `started`, `step`, `tool`, "
        "`rows`, `refused`, then `answer` (text, sql, columns, rows, chart), `stopped` (a step, time or token "
        "budget) or `error`; the question, each step and the answer join the conversation. 409 "
        "agent_not_configured names the settings to set; 429 agent_budget_spent / too_many_concurrent_asks",
        "conversation:create", "agent", r.AskQuestion, {"type": "string", "description": "text/event-stream"},
        media_type="text/event-stream"),
    ("GET", "/api/v1/agent"): Op(
        "Whether the analytics agent has a model server, and which settings are missing if not", "member",
        "agent", response=obj(("configured", "missingSettings"), configured={"type": "boolean"},
                              missingSettings={"type": "array", "items": {"type": "string"}},
                              model={"type": "string"}, message={"type": "string"},
                              maxSteps={"type": "integer"}, timeBudgetS={"type": "number"},
                              tokensPerDay={"type": "integer"})),
    ("GET", "/api/v1/admin/agent/usage"): Op(
        "The org's agent usage per UTC day, newest first: asks, steps, queries, refusals, tokens, time",
        "roles:admin,owner", "agent", query=(("days", {"type": "integer", "minimum": 1, "maximum": 366}),),
        response=_AGENT_USAGE),
    ("GET", "/api/v1/admin/organizations/{target_id}/agent-usage"): Op(
        "One organization's agent usage per UTC day (platform admins; audited in the org too)",
        "platform_admin", "platform", query=(("days", {"type": "integer", "minimum": 1, "maximum": 366}),),
        response=_AGENT_USAGE),
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
        r.PutSemanticEntity,
        {"allOf": [ref("SemanticEntity"), obj(changed={"type": "boolean"}, synced={"type": "boolean"})]}),
    ("DELETE", "/api/v1/admin/semantic/org/entities/{name}"): Op(
        "Delete a semantic entity", "semantic:update", "semantic"),
    ("POST", "/api/v1/semantic/explore"): Op(
        "ls, cat or grep in the session org's semantic layer", "semantic:read or no org", "semantic", r.Explore,
        {"type": "object"}),
    ("GET", "/api/v1/admin/connections"): Op(
        "The session org's connections (every member; never a password) and connection pools: every org's "
        "for platform admins, the session org's for its admins and owners",
        "platform_admin or connection:read", "admin",
        response=obj(("scope",), scope={"type": "string", "enum": ["platform", "organization"]}, org_id=UUID,
                     connections={"type": "array", "items": _CONNECTION},
                     dedicated={"type": "array", "items": {"type": "object"},
                                "description": "this process's pools on dedicated databases"})),
    ("POST", "/api/v1/admin/connections"): Op(
        "Add one of the org's PostgreSQL datasources (400 connection_host_not_allowed names the platform "
        "setting; 409 if the id is taken); the password is stored encrypted and never returned; audited",
        "connection:create", "connections", NewConnection, _CONNECTION, status=201),
    ("GET", "/api/v1/admin/connections/{connection_id}"): Op(
        "One of the org's connections (404 for any other org's id)", "connection:read", "connections",
        response=_CONNECTION),
    ("PATCH", "/api/v1/admin/connections/{connection_id}"): Op(
        "Change a connection's url, password or description; its pool and cached results retire; audited",
        "connection:update", "connections", ConnectionChange, _CONNECTION),
    ("DELETE", "/api/v1/admin/connections/{connection_id}"): Op(
        "Delete a connection; audited", "connection:delete", "connections", status=204),
    ("POST", "/api/v1/admin/connections/{connection_id}/test"): Op(
        "Connect once and report latency, server version and warnings about the role's privileges; audited",
        "connection:update", "connections", response=obj(
            ("id", "ok"), id={"type": "string"}, ok={"type": "boolean"}, latencyMs={"type": "number"},
            serverVersion={"type": "string"}, warnings={"type": "array", "items": {"type": "string"}},
            error={"type": "string"})),
    ("GET", "/api/v1/admin/organizations"): Op(
        "Every organization with its member count and job queue depth (platform admins; audited)",
        "platform_admin", "platform",
        response=obj(("data",), data={"type": "array", "items": obj(
            ("id", "name", "slug"), id=UUID, name={"type": "string"}, slug={"type": "string"},
            createdAt=STAMP, memberCount={"type": "integer"}, jobsQueued={"type": "integer"},
            jobsRunning={"type": "integer"})})),
    ("GET", "/api/v1/admin/organizations/{target_id}"): Op(
        "One organization with its members and invitations (platform admins; audited in the org too)",
        "platform_admin", "platform", response={"allOf": [ref("Organization"), obj(
            members={"type": "array", "items": ref("Member")},
            invitations={"type": "array", "items": {"type": "object"}})]}),
    ("GET", "/api/v1/admin/organizations/{target_id}/stats"): Op(
        "Counts of an organization's conversations, members, queries and jobs by state (platform admins; "
        "audited)", "platform_admin", "platform", response=obj(
            ("organizationId",), organizationId=UUID, conversations={"type": "integer"},
            members={"type": "integer"}, queries={"type": "integer"}, jobsQueued={"type": "integer"},
            jobsRunning={"type": "integer"}, jobsDead={"type": "integer"})),
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
        "agent_capacity_exhausted)", "member", "query", r.RunQuery, obj(
            ("columns", "rows", "rowCount", "truncated", "cached"),
            columns={"type": "array", "items": obj(("name", "type"), name={"type": "string"},
                                                   type={"type": "string"})},
            rows={"type": "array", "items": {"type": "array", "items": {}}},
            rowCount={"type": "integer"}, truncated={"type": "boolean"}, cached={"type": "boolean"},
            truncatedReason={"type": "string", "enum": ["row_limit", "result_bytes"]})),
    ("POST", "/api/v1/admin/cache/flush"): Op(
        "Flush cached query results: the session org's (admins, owners) or every org's (platform admins)",
        "scope=organization: roles:admin,owner; scope=all: platform_admin", "query", r.FlushCache,
        obj(("scope", "flushed"), scope={"type": "string"}, flushed={"type": "integer"})),
    ("POST", "/api/v1/admin/api-keys"): Op(
        "Create an org-scoped API key (role at most the creator's; a person's session only); "
        "the answer's `key` is shown once", "apiKey:create", "admin", r.NewApiKey,
        {"allOf": [ref("ApiKey"), obj(("key",), key={"type": "string"})]}, status=201),
    ("GET", "/api/v1/admin/api-keys"): Op(
        "The org's API keys, revoked ones included (never a secret)", "apiKey:read", "admin",
        response=obj(("data",), data={"type": "array", "items": ref("ApiKey")})),
    ("DELETE", "/api/v1/admin/api-keys/{key_id}"): Op(
        "Revoke an API key at once (idempotent); cancels the jobs it enqueued that are queued or running and "
        "the invitations it sent that are pending", "apiKey:delete", "admin", response=ref("ApiKey")),
    ("GET", "/api/v1/settings"): Op(
        "The org's settings: agent query limits, effective values and platform bounds", "settings:read",
        "settings", response=ref("OrgSettings")),
    ("PATCH", "/api/v1/settings"): Op(
        "Change agent query limits within the platform bounds (null: platform default); audited",
        "settings:update", "settings", r.SettingsChange, ref("OrgSettings")),
    ("POST", "/api/v1/jobs"): Op(
        "Enqueue a background job in the session's org (kinds: reprofile, scheduled_query with a cron "
        "schedule, warm_cache); audited", "job:create", "jobs", r.NewJob, ref("Job"), status=201),
    ("GET", "/api/v1/jobs"): Op(
        "The org's jobs, newest first", "job:read", "jobs",
        query=(("status", {"type": "string", "enum": ["queued", "running", "succeeded", "dead", "canceled"]}),
               ("kind", {"type": "string"}),
               ("scheduled", {"type": "boolean", "description": "true: recurring jobs only; false: one-off only"}),
               ("limit", {"type": "integer", "minimum": 1, "maximum": 100})),
        response=obj(("data",), data={"type": "array", "items": ref("Job")})),
    ("GET", "/api/v1/jobs/{job_id}"): Op(
        "One job of the org, with its progress and last error", "job:read", "jobs", response=ref("Job")),
    ("POST", "/api/v1/jobs/{job_id}/cancel"): Op(
        "Cancel a queued or running job (409 job_state_conflict otherwise); audited", "job:update", "jobs",
        response=ref("Job")),
    ("POST", "/api/v1/jobs/{job_id}/retry"): Op(
        "Queue a dead or canceled job again, attempts from zero (409 job_state_conflict otherwise); audited",
        "job:update", "jobs", response=ref("Job")),
    ("GET", "/api/v1/jobs/{job_id}/results"): Op(
        "A scheduled query's kept results, newest first (kept ATLAS_JOB_RESULT_TTL_S)", "job:read", "jobs",
        query=(("limit", {"type": "integer", "minimum": 1, "maximum": 100}),),
        response=obj(("data",), data={"type": "array", "items": ref("JobResult")})),
}
OPERATIONS.update(AUTH_OPERATIONS)
OPERATIONS.update(ROLE_OPERATIONS)
OPERATIONS.update(TEAM_OPERATIONS)
OPERATIONS.update(SCIM_OPERATIONS)
