"""The agent's tools, named and shaped like the reference design's: explore, executeSQL, listEntities,
describeEntity; and the org's entity files as resources.

Each tool is a thin call into the service its HTTP endpoint uses: the semantic
layer's explore (POST /api/v1/semantic/explore), the query service
(POST /api/v1/query: the org's limits, rate, in-flight limit, cache and audit),
the semantic entities (GET /api/v1/admin/semantic/org/entities[/<name>]). No tool
takes an org: the token decides it (app/mcp/calls.py), and switching orgs is a
new token.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import Flask
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from app.http.context import services
from app.mcp.calls import TokenOf, authenticate, error_answer, run_tool
from app.mcp.work import TOOLS, access_of
from app.permissions import admit

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
INSTRUCTIONS = (
    "Atlas: the organization's CRM data and its semantic layer. Read the layer first (listEntities, "
    "describeEntity, or explore with ls/cat/grep), then query it with executeSQL (one read-only SELECT over "
    "the tables the layer declares). The organization is the token's; there is no tool to switch it."
)


def build_server(app: Flask, *, token_of: TokenOf) -> MCPServer:
    """An MCP server whose tools run in `app`'s services, each call authenticated by `token_of(ctx)`.

    Each tool's work is app/mcp/work.py's, shared with Atlas's own agent (app/agent).
    """
    server: MCPServer = MCPServer("atlas", instructions=INSTRUCTIONS, log_level="WARNING")
    layer = services(app).semantic

    def call(ctx: Context, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        return run_tool(app, ctx, tool=tool, token_of=token_of, arguments=arguments)

    @server.tool(name="explore", annotations=READ_ONLY)
    def explore(
        command: Annotated[Literal["ls", "cat", "grep"], Field(description="ls a directory, cat a file, grep a pattern")],
        ctx: Context,
        path: Annotated[str, Field(description="relative to the org's layer, e.g. entities/ or entities/contacts.yml")] = "",
        pattern: Annotated[str, Field(description="grep: the text (or RE2 regex) to find")] = "",
        regex: Annotated[bool, Field(description="grep: treat pattern as an RE2 regular expression")] = False,
    ) -> CallToolResult:
        """ls, cat or grep in the organization's semantic layer (its entity YAML files)."""
        return call(ctx, "explore", {"command": command, "path": path, "pattern": pattern, "regex": regex})

    @server.tool(name="executeSQL", annotations=READ_ONLY)
    def execute_sql(
        sql: Annotated[str, Field(description="one read-only SELECT statement")], ctx: Context,
        connectionId: Annotated[str | None, Field(
            description="one of the organization's connections (GET /api/v1/admin/connections); "
                        "default: Atlas's own CRM data")] = None,
    ) -> CallToolResult:
        """Run one read-only SQL query over the organization's data, through the SQL gateway and its limits."""
        return call(ctx, "executeSQL", {"sql": sql, "connectionId": connectionId})

    @server.tool(name="listEntities", annotations=READ_ONLY)
    def list_entities(ctx: Context) -> CallToolResult:
        """The organization's semantic entities: name, version and last change."""
        return call(ctx, "listEntities", {})

    @server.tool(name="describeEntity", annotations=READ_ONLY)
    def describe_entity(name: Annotated[str, Field(description="the entity's name, as listEntities gives it")],
                        ctx: Context) -> CallToolResult:
        """One semantic entity of the organization, with its YAML (table, dimensions, measures, joins)."""
        return call(ctx, "describeEntity", {"name": name})

    @server.resource("atlas://entities/{name}", name="entity", mime_type="application/yaml",
                     description="One semantic entity's YAML, from the token's organization")
    def entity_file(name: str, ctx: Context) -> str:
        with app.app_context():
            try:
                ident = authenticate(app, token_of(ctx))
                admit(ident, access_of(app, TOOLS["describeEntity"]))
                return str(layer.get(ident.org_id, name)["yaml_content"])
            except Exception as exc:  # the HTTP API's code and message, never a traceback
                error = error_answer(exc)[1]
                raise ResourceError(f"{error['code']}: {error['message']}") from None

    return server
