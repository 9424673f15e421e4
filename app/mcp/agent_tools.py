"""The agent's tools: exactly the MCP server's, with the schemas the MCP SDK derives from them.

The definitions are read from the MCP server Atlas builds (app/mcp/tools.py),
so a tool added there is offered to the model here with the same name,
description and JSON schema; calls go through app/mcp/work.py's `call_as`, the
code every MCP call runs.
"""
from __future__ import annotations

from typing import Any

import anyio
from flask import Flask

from app.mcp.tools import build_server


def _no_token(_ctx: object) -> None:
    return None  # the agent never calls through the MCP server: only its tool list is read


def openai_tools(app: Flask) -> list[dict[str, Any]]:
    """The MCP tools as chat-completions `tools` (type function, JSON-schema parameters)."""
    server = build_server(app, token_of=_no_token)
    listed = anyio.run(server.list_tools)
    return [{"type": "function", "function": {"name": tool.name, "description": tool.description or "",
                                              "parameters": tool.input_schema}} for tool in listed]
