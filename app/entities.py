"""The CRM entities, declared once as data: fields, types, what may be written, sorted, filtered.

The repository builds SQL from these declarations (identifiers only, through
psycopg.sql), the API validates input against them, and the OpenAPI document
is generated from them, so a field is added in one place.
"""
from __future__ import annotations

from dataclasses import dataclass

# kinds: text, email, int, decimal, date, datetime, ref (uuid of a row of the same org), choice, bool


@dataclass(frozen=True)
class Field:
    name: str
    kind: str = "text"
    required: bool = False
    writable: bool = True
    max_len: int | None = 200
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None  # a full-match regex, mirroring the column's CHECK
    pattern_hint: str = ""
    filterable: bool = False
    sortable: bool = False
    nullable: bool = True


@dataclass(frozen=True)
class Entity:
    name: str  # URL segment: /api/v1/<name>
    table: str
    fields: tuple[Field, ...]
    default_sort: str = "created_at"
    singular: str = ""

    @property
    def by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    @property
    def writable(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields if f.writable}

    @property
    def sortable(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.sortable)

    @property
    def filterable(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields if f.filterable}

    @property
    def columns(self) -> tuple[str, ...]:
        return ("id", "org_id", *(f.name for f in self.fields))


def _common(*fields: Field) -> tuple[Field, ...]:
    stamps = (
        Field("created_at", "datetime", writable=False, sortable=True, filterable=True),
        Field("updated_at", "datetime", writable=False, sortable=True),
    )
    return (*fields, *stamps)


OWNER = Field("owner_id", "ref", filterable=True)

ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        Entity("accounts", "accounts", _common(
            Field("name", required=True, nullable=False, sortable=True, filterable=True),
            Field("domain", filterable=True), Field("industry", filterable=True),
            Field("employee_count", "int", minimum=0, sortable=True),
            Field("annual_revenue", "decimal", minimum=0, maximum=99_999_999_999_999.99, sortable=True),
            Field("phone", max_len=50), Field("website", max_len=300), OWNER,
        ), singular="account"),
        Entity("contacts", "contacts", _common(
            Field("first_name", required=True, nullable=False, max_len=100, sortable=True),
            Field("last_name", max_len=100, nullable=False, sortable=True, filterable=True),
            Field("email", "email", max_len=320, filterable=True, sortable=True),
            Field("phone", max_len=50), Field("title", max_len=200),
            Field("lifecycle_stage", "choice", nullable=False, filterable=True,
                  choices=("subscriber", "lead", "customer", "evangelist", "other")),
            Field("account_id", "ref", filterable=True), OWNER,
        ), singular="contact"),
        Entity("leads", "leads", _common(
            Field("first_name", required=True, nullable=False, max_len=100, sortable=True),
            Field("last_name", max_len=100, nullable=False, sortable=True),
            Field("email", "email", max_len=320, filterable=True), Field("company", filterable=True),
            Field("source", "choice", nullable=False, filterable=True,
                  choices=("web", "referral", "event", "outbound", "partner", "other")),
            Field("status", "choice", nullable=False, filterable=True,
                  choices=("new", "contacted", "qualified", "disqualified", "converted")),
            Field("score", "int", nullable=False, minimum=0, maximum=100, sortable=True),
            Field("converted_contact_id", "ref"), OWNER,
        ), singular="lead"),
        Entity("opportunities", "opportunities", _common(
            Field("name", required=True, nullable=False, sortable=True),
            Field("stage", "choice", nullable=False, filterable=True, choices=(
                "prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost")),
            Field("amount", "decimal", nullable=False, minimum=0, maximum=99_999_999_999_999.99, sortable=True),
            Field("currency", max_len=3, nullable=False, pattern=r"[A-Z]{3}",
                  pattern_hint="a three-letter upper-case ISO 4217 code"),
            Field("probability", "int", nullable=False, minimum=0, maximum=100, sortable=True),
            Field("close_date", "date", sortable=True, filterable=True),
            Field("account_id", "ref", filterable=True), Field("primary_contact_id", "ref"), OWNER,
        ), singular="opportunity"),
        Entity("activities", "activities", _common(
            Field("kind", "choice", nullable=False, filterable=True, choices=("call", "email", "meeting", "task")),
            Field("subject", required=True, nullable=False, max_len=300, sortable=True),
            Field("details", max_len=20000), Field("due_at", "datetime", sortable=True),
            Field("completed_at", "datetime"),
            Field("contact_id", "ref", filterable=True), Field("account_id", "ref", filterable=True),
            Field("opportunity_id", "ref", filterable=True), OWNER,
        ), singular="activity"),
        Entity("notes", "notes", _common(
            Field("body", required=True, nullable=False, max_len=100000),
            Field("contact_id", "ref", filterable=True), Field("account_id", "ref", filterable=True),
            Field("opportunity_id", "ref", filterable=True), Field("author_id", "ref", filterable=True),
        ), singular="note"),
        Entity("projects", "projects", _common(
            Field("name", required=True, nullable=False, sortable=True),
            Field("description", max_len=20000),
            Field("status", "choice", nullable=False, filterable=True,
                  choices=("planned", "active", "on_hold", "done", "canceled")),
            Field("account_id", "ref", filterable=True),
            Field("start_date", "date", sortable=True), Field("due_date", "date", sortable=True),
            Field("budget", "decimal", minimum=0, maximum=99_999_999_999_999.99, sortable=True), OWNER,
        ), singular="project"),
        Entity("sites", "sites", _common(
            Field("name", required=True, nullable=False, sortable=True),
            Field("account_id", "ref", filterable=True), Field("address_line", max_len=300),
            Field("city", max_len=100, filterable=True, sortable=True), Field("region", max_len=100),
            Field("postal_code", max_len=20), Field("country", max_len=2, filterable=True, pattern=r"[A-Z]{2}",
                                                           pattern_hint="a two-letter upper-case ISO 3166 code"),
        ), singular="site"),
        Entity("knowledge-files", "knowledge_files", _common(
            Field("title", required=True, nullable=False, max_len=300, sortable=True),
            Field("filename", required=True, nullable=False, max_len=255, filterable=True, sortable=True,
                  pattern=r"[^/\\]+", pattern_hint="a file name without / or \\"),
            Field("content_type", max_len=100, nullable=False),
            Field("body", max_len=1_000_000, nullable=False),
            Field("size_bytes", "int", writable=False),
            Field("project_id", "ref", filterable=True), Field("created_by", "ref", writable=False),
        ), singular="knowledge file"),
    )
}
