"""The MCP server: the agent's tools over the Model Context Protocol (the official `mcp` SDK).

The order of work for every tool call is one function, `calls.run_tool`:
resolve the token afresh (a session or an org-scoped API key, so a revoked
token or a removed member stops the next call), require an org, check the
tool's declared access against the permission matrix, refuse arguments that
name another org, tenant or connection (audited), then run the same code as
the HTTP endpoint and turn any refusal into an MCP tool error carrying the
HTTP API's code and message.

    tools.py   the tools and resources, each a thin call into the services the HTTP views use
    work.py    what each tool does after the caller is known (access, guard, service); shared with app/agent
    calls.py   one tool call: identity, access, guard, result or error
    guard.py   arguments naming another org, tenant or connection
    http.py    `atlas mcp --http`: streamable HTTP at /mcp behind a bearer check on every request
"""
from __future__ import annotations

from app.mcp.tools import build_server

__all__ = ["build_server"]
