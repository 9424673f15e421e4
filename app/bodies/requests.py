"""Every non-CRM request body: auth, organizations, members, conversations, settings, query, cache, semantic.

Auth and organization bodies follow Better Auth, whose clients send fields we
do not read (`callbackURL`, `rememberMe`), so unknown fields are ignored there;
conversations and settings refuse them, as they always have. A null counts as
a missing field wherever Better Auth's clients may send one ("is required").
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, ClassVar

import pydantic
from pydantic import WithJsonSchema
from pydantic_core import PydanticCustomError

from app.bodies import Body
from app.bodies.fields import Choice, Email, Flag, Id, RoleRef, Slug, Text
from app.errors import ValidationError
from app.roles import ROLES

REQUIRED = "is required"
Name = Annotated[str, Text(null=REQUIRED)]
Role = Annotated[str, Choice(options=ROLES, null=REQUIRED, one_item_list=True)]
AnyId = Annotated[uuid.UUID, Id(message="must be an id (a UUID)", strings_only=False, null=REQUIRED)]
Logo = Annotated[str, Text(max_len=2000, blank=True)]
Metadata = dict[str, Any]
# Checked by the org guard (app/http/org_guard.py) before the view runs: documented here, not validated again.
OrgEcho = Annotated[Any, WithJsonSchema({"type": "string", "format": "uuid",
                                         "description": "optional; must be the session's org (else 403)"})]
PASSWORD_MIN, PASSWORD_MAX = 8, 128


# ----- auth ---------------------------------------------------------------------------------------
class SignUp(Body):
    email: Annotated[str, Email(null=REQUIRED)]
    password: Annotated[str, Text(strip=False, blank=True, min_len=PASSWORD_MIN, max_len=PASSWORD_MAX, null=REQUIRED)]
    name: Name


class SignIn(Body):
    email: Annotated[str, Email(null=REQUIRED)]
    password: Annotated[str, Text(strip=False, blank=True, min_len=1, max_len=PASSWORD_MAX, null=REQUIRED)]
    # Where the client goes next: a path here or a URL on a trusted origin (else 403 INVALID_CALLBACK_URL).
    callbackURL: Annotated[str, Text(max_len=2000, strip=False, blank=True)] | None = None


# ----- organizations ------------------------------------------------------------------------------
class NewOrganization(Body):
    name: Name
    slug: Annotated[str, Slug(null=REQUIRED)]
    logo: Logo | None = None
    metadata: Metadata | None = None


class SetActive(Body):
    organizationId: Annotated[uuid.UUID, Id(message="must be an id (a UUID)", strings_only=False)] | None = None
    organizationSlug: Annotated[str, Text(max_len=63, blank=True)] | None = None


class OrganizationChanges(Body):
    """The fields sent are the fields changed; name and slug cannot be cleared."""

    name: Annotated[str, Text(blank=True)] = None  # type: ignore[assignment]  # absent: unchanged
    slug: Annotated[str, Slug()] = None  # type: ignore[assignment]  # absent: unchanged
    logo: Logo | None = None
    metadata: Metadata | None = None


class UpdateOrganization(Body):
    """Better Auth sends {data: {...}}; a flat body is taken as the data."""

    data: OrganizationChanges
    organizationId: OrgEcho = None

    @pydantic.model_validator(mode="before")
    @classmethod
    def _flat(cls, value: Any) -> Any:
        return {"data": value} if isinstance(value, dict) and "data" not in value else value


class DeleteOrganization(Body):
    organizationId: OrgEcho = None


# ----- members ------------------------------------------------------------------------------------
class InviteMember(Body):
    email: Annotated[str, Email(null=REQUIRED)]
    role: Role
    organizationId: OrgEcho = None
    resend: bool | None = None  # true: a pending invitation is renewed (and its link logged again)


class AcceptInvitation(Body):
    invitationId: AnyId


class UpdateMemberRole(Body):
    memberId: AnyId
    role: Annotated[str, RoleRef(builtin=ROLES, null=REQUIRED)]  # or a custom role (app/org_roles)
    organizationId: OrgEcho = None


class RemoveMember(Body):
    memberIdOrEmail: Annotated[str, Text(max_len=254)] | None = None
    memberId: Annotated[str, Text(max_len=64)] | None = None
    organizationId: OrgEcho = None

    def key(self) -> str:
        """The member id or email (memberId is the older name of the field)."""
        key = self.memberIdOrEmail or self.memberId
        if key is None:
            raise ValidationError(f"invalid request: memberIdOrEmail {REQUIRED}",
                                  details={"fields": {"memberIdOrEmail": REQUIRED}})
        return key


# ----- API keys -----------------------------------------------------------------------------------
def _future(value: Any) -> Any:
    """An ISO 8601 instant in the future (no offset: UTC), or null for a key that never expires."""
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None:
        raise PydanticCustomError("atlas", "{message}", {"message": "must be an ISO 8601 date-time"})
    when = when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
    if when <= dt.datetime.now(dt.UTC):
        raise PydanticCustomError("atlas", "{message}", {"message": "must be in the future"})
    return when


class NewApiKey(Body):
    """A key for machines: a name to recognise it, the role it acts with (at most the creator's)."""

    _subject: ClassVar[str] = "API key"
    name: Name
    role: Role
    expiresAt: Annotated[Any, pydantic.BeforeValidator(_future),
                         WithJsonSchema({"type": "string", "format": "date-time", "nullable": True,
                                         "description": "optional; the key stops working then"})] = None


# ----- conversations ------------------------------------------------------------------------------
class Strict(Body):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class NewConversation(Strict):
    title: Annotated[str, Text(max_len=300, strip=False)] | None = None
    teamId: Annotated[uuid.UUID, Id(message="must be a team's id (a UUID)", strings_only=False)] | None = None


class NewScimToken(Strict):
    """A SCIM token for an identity provider (app/scim): a name to recognise it by."""

    name: Name


class ConversationTeam(Strict):
    """Share a conversation with one team of the org, or (null) with the whole org."""

    teamId: Annotated[uuid.UUID, Id(message="must be a team's id (a UUID)", strings_only=False)] | None


class JobTeam(Strict):
    """Share a job (a saved, scheduled query) with one team of the org, or (null) with the whole org."""

    teamId: Annotated[uuid.UUID, Id(message="must be a team's id (a UUID)", strings_only=False)] | None


class AskQuestion(Strict):
    """POST /api/v1/conversations/<id>/ask: a question in plain language for the analytics agent."""

    question: Annotated[str, Text(max_len=4000, null=REQUIRED)]


class NewMessage(Strict):
    role: Annotated[str, Choice(options=("user", "assistant"))] | None = None  # null: user
    content: Annotated[str, Text(max_len=200_000, strip=False, null=REQUIRED)]


# ----- settings -----------------------------------------------------------------------------------
def _setting(value: Any, info: pydantic.ValidationInfo) -> Any:
    """In range for this platform (info.context["ranges"]: field -> (low, high)), or null."""
    low, high = (info.context or {})["ranges"][info.field_name]
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
        raise PydanticCustomError("atlas", "{message}", {
            "message": f"must be an integer from {low} to {high}, or null for the platform default"})
    return value


Setting = Annotated[int | None, pydantic.BeforeValidator(_setting)]


class SettingsChange(Strict):
    """Agent query limits; null resets one to the platform default. Bounds: validation context."""

    _subject: ClassVar[str] = "settings"
    queryRowLimit: Setting = None
    queryStatementTimeoutMs: Setting = None
    queryRatePerMinute: Setting = None
    queryMaxInFlight: Setting = None

    @classmethod
    def unknown_field(cls, name: str) -> str:
        return f"unknown setting; known: {', '.join(cls.model_fields)}"


# ----- query, cache, semantic layer ---------------------------------------------------------------
class RunQuery(Body):
    _subject: ClassVar[str] = "query"
    sql: Annotated[str, Text(max_len=None, strip=False, blank=True, null="must be a string")]
    # "default" (Atlas's CRM data) or one of the org's connections (app/connections)
    connectionId: Annotated[str, Text(max_len=40)] | None = None


class NewJob(Strict):
    """A background job; `payload` is checked by its kind (app/jobs/kinds.py)."""

    _subject: ClassVar[str] = "job"
    kind: Annotated[str, Text(max_len=100, null=REQUIRED)]
    payload: dict[str, Any] | None = None
    schedule: Annotated[str, Text(max_len=200)] | None = None
    maxAttempts: Annotated[int, pydantic.Field(ge=1, le=100)] | None = None
    teamId: Annotated[uuid.UUID, Id(message="must be a team's id (a UUID)", strings_only=False)] | None = None


class FlushCache(Body):
    scope: Annotated[str, Choice(options=("organization", "all"))] = "organization"


class PutSemanticEntity(Body):
    yamlContent: Annotated[str, Text(max_len=None, strip=False, blank=True, null="must be a string")]


class Explore(Body):
    """command, path and pattern are checked by the layer (app/semantic/explore.py), which names the problem."""

    command: Annotated[Any, WithJsonSchema({"type": "string", "enum": ["ls", "cat", "grep"]})]
    path: Annotated[Any, WithJsonSchema({"type": "string"})] = None
    pattern: Annotated[Any, WithJsonSchema({"type": "string"})] = None
    regex: Annotated[bool, Flag(message="must be a boolean")] = False
