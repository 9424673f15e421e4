"""The query strings of the API's list and read endpoints, declared as models (app/bodies/query.py).

The CRM lists' models are generated from app/entities.py (app/bodies/crm.py).
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import pydantic
from pydantic import Field

from app.bodies.query import Parsed, Query, TrueFalse, Whole
from app.paging import DEFAULT_LIMIT, MAX_LIMIT

JOB_LIST_MAX = 100  # app/jobs/store.py MAX_LIST: at most this many jobs or results per answer
USAGE_DAYS_MAX = 366


class Page(Query):
    """One keyset page (app/paging.py)."""

    limit: Annotated[int, Whole(low=1, high=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: Annotated[str | None, Field(description="nextCursor of the previous page")] = None


def an_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ValueError("must be an id (a UUID string)") from None


def instant(raw: str) -> dt.datetime:
    """An ISO 8601 date or date-time; no offset means UTC."""
    try:
        value = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be an ISO 8601 date or date-time") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


class AuditFilter(Page):
    """The audit trail's filters; an unknown parameter is refused, not ignored."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    actor: Annotated[Any, Parsed(parse=an_id, schema={"type": "string", "format": "uuid"})] = None
    action: str | None = None
    entity: str | None = None
    outcome: str | None = None
    since: Annotated[Any, Parsed(parse=instant, schema={"type": "string", "description": "ISO 8601"})] = None
    until: Annotated[Any, Parsed(parse=instant, schema={"type": "string", "description": "ISO 8601, exclusive"})] = None

    @classmethod
    def unknown(cls, name: str) -> str:
        return f"is not a filter; filters: {', '.join(sorted(cls.model_fields))}"


JobLimit = Annotated[int, Whole(low=1, high=JOB_LIST_MAX, message=f"must be from 1 to {JOB_LIST_MAX}", empty_is_default=False,
                                summary=f"limit must be an integer from 1 to {JOB_LIST_MAX}")]


class JobFilter(Query):
    status: Annotated[str | None, Field(json_schema_extra={
        "enum": ["queued", "running", "succeeded", "dead", "canceled"]})] = None
    kind: str | None = None
    scheduled: Annotated[bool | None, TrueFalse(
        summary="scheduled must be true (recurring jobs only) or false (one-off jobs only)"),
        Field(description="true: recurring jobs only; false: one-off only")] = None
    limit: JobLimit = 50


class JobResultsPage(Query):
    limit: JobLimit = 20


class UsageDays(Query):
    days: Annotated[int, Whole(low=1, high=USAGE_DAYS_MAX, message=f"must be from 1 to {USAGE_DAYS_MAX}",
                               summary=f"days must be an integer from 1 to {USAGE_DAYS_MAX}",
                               empty_is_default=False)] = 30


class MembersPage(Query):
    """Better Auth's offset paging of members."""

    limit: Annotated[int | None, Whole(low=0)] = None
    offset: Annotated[int, Whole(low=0)] = 0


class OrgBySlug(Query):
    organizationSlug: Annotated[str | None, Field(max_length=63)] = None  # Better Auth's name


class FullOrgQuery(OrgBySlug):
    membersLimit: Annotated[int | None, Whole(low=0)] = None  # Better Auth's name


class RoleOf(Query):
    userId: Annotated[str | None, Field(json_schema_extra={"format": "uuid"})] = None


class InvitationById(Query):
    id: Annotated[str | None, Field(json_schema_extra={"format": "uuid"})] = None


class ResetToken(Query):
    """Better Auth's client may send the reset token in the query string instead of the body."""

    token: str | None = None


class ResetLink(Query):
    callbackURL: str = ""  # Better Auth's name

