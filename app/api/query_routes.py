"""POST /api/v1/query: agent SQL for the session's org, over HTTP.

The work is the query service's (app/query_service.py): the org's limits and
semantic layer, the gateway, the cache and the audit trail. This view only
names the caller and reads the body, after the rate limit: a body that is not
a JSON object is refused and audited like bad SQL.
"""
from __future__ import annotations

from flask import Blueprint, g
from flask.typing import ResponseReturnValue

from app.api.spec.schemas import obj
from app.bodies.requests import RunQuery
from app.endpoint import endpoint
from app.errors import ValidationError
from app.http.body import json_body, parsed_body
from app.http.context import services
from app.permissions import MEMBER
from app.query_service import caller_of

bp = Blueprint("query", __name__, url_prefix="/api/v1")


@bp.post("/query")
# reads_body: admission (429) comes before a bad body, and a refused query is audited with the sql as sent
@endpoint(MEMBER, tag="query", body=RunQuery, reads_body=True,
          response=obj(
            ("columns", "rows", "rowCount", "truncated", "cached"),
            columns={"type": "array", "items": obj(("name", "type"), name={"type": "string"},
                                                   type={"type": "string"})},
            rows={"type": "array", "items": {"type": "array", "items": {}}},
            rowCount={"type": "integer"}, truncated={"type": "boolean"}, cached={"type": "boolean"},
            truncatedReason={"type": "string", "enum": ["row_limit", "result_bytes"]}))
def query() -> ResponseReturnValue:
    """Run one read-only SQL query through the gateway for the session's org (400 sql_rejected, sql_invalid or
    query_timeout; 429 rate_limited or too_many_concurrent_queries with Retry-After; 503
    agent_capacity_exhausted)

    Run agent SQL for the session's org on `connectionId` (default: Atlas's data); 400 sql_rejected /
    sql_invalid / query_timeout, 404 unknown connection, 429 rate_limited.
    """
    queries, caller = services().queries, caller_of(g.identity)
    settings = queries.admit(caller)
    sql_text: object = None
    connection_id: object = None
    try:
        sent = json_body()
        sql_text, connection_id = sent.get("sql"), sent.get("connectionId")  # audited as sent, even when refused
        checked = parsed_body(RunQuery)
    except ValidationError as exc:
        queries.audit_refusal(caller, sql_text, exc, connection_id=connection_id)
        raise
    return queries.answer(caller, checked.sql, settings, connection_id=checked.connectionId).to_json()
