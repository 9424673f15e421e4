"""What each agent tool does, once, for every client: the MCP server and Atlas's own analytics agent.

`call_as(app, ident, tool, arguments)` is the order of work after the caller is
known: the tool's declared access against the permission matrix, arguments
naming another org, tenant or connection refused and audited
(app/mcp/guard.py), then the same service the HTTP endpoint uses. The MCP
server (app/mcp/calls.py) resolves a token first; the agent (app/agent) passes
the asking member's request identity.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask

from app.auth.identity import Identity
from app.endpoint import endpoint_of
from app.http.context import services
from app.mcp.guard import refuse_foreign_arguments
from app.ops import metrics
from app.permissions import Access, admit
from app.query_service import caller_of
from app.semantic.store import entity_json


def access_of(app: Flask, tool: Tool) -> Access:
    """The access a tool needs: its HTTP endpoint's declaration (app/endpoint.py), whose service it calls.

    Read from the app's views by endpoint name, so the MCP door imports no view module.
    """
    declared = endpoint_of(app.view_functions.get(tool.endpoint))
    if declared is None or declared.access is None:
        raise TypeError(f"the view {tool.endpoint!r} declares no access")
    return declared.access


Work = Callable[[Flask, Identity, Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class Tool:
    """One tool: the HTTP endpoint whose access it takes, its work, the arguments it checks itself in the org."""

    endpoint: str  # e.g. "query.query": blueprint and view name in the app's URL map
    work: Work
    takes: frozenset[str] = frozenset()


def _explore(app: Flask, ident: Identity, args: Mapping[str, Any]) -> Mapping[str, Any]:
    return services(app).semantic.explore(args.get("command"), args.get("path", ""), args.get("pattern", ""),
                                          org_id=ident.org_id, regex=args.get("regex") is True)


def _execute_sql(app: Flask, ident: Identity, args: Mapping[str, Any]) -> Mapping[str, Any]:
    with metrics.agent_query_in_flight():
        return services(app).queries.run(caller_of(ident), args.get("sql"),
                                         connection_id=args.get("connectionId")).to_json()


def _list_entities(app: Flask, ident: Identity, args: Mapping[str, Any]) -> Mapping[str, Any]:
    return {"entities": [entity_json(row, content=False) for row in services(app).semantic.list(ident.org_id)]}


def _describe_entity(app: Flask, ident: Identity, args: Mapping[str, Any]) -> Mapping[str, Any]:
    return entity_json(services(app).semantic.get(ident.org_id, args.get("name")))  # type: ignore[arg-type]  # validated by get


# explore reads the token's org's layer like listEntities (over HTTP, a session without an org explores the
# default layer; a token always acts in its org, so the tool needs the org's read access).
TOOLS: Mapping[str, Tool] = {
    "explore": Tool("semantic.list_entities", _explore),
    "executeSQL": Tool("query.query", _execute_sql, takes=frozenset({"connectionId"})),
    "listEntities": Tool("semantic.list_entities", _list_entities),
    "describeEntity": Tool("semantic.get_entity", _describe_entity),
}


def call_as(app: Flask, ident: Identity, tool: str, arguments: Mapping[str, Any], *,
            raw: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Admit, guard the arguments (`raw`: as sent, before a schema dropped unknown ones), work.

    Raises the HTTP API's errors (403, cross_org_refused, sql_rejected, 404, 429 ...).
    """
    spec = TOOLS[tool]
    admit(ident, access_of(app, spec))  # 403 no_active_organization without an org, forbidden by role
    refuse_foreign_arguments(services(app).db, ident, tool, arguments if raw is None else raw, takes=spec.takes)
    return dict(spec.work(app, ident, arguments))
