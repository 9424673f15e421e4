"""Tool arguments that name an org, a tenant or a connection other than the caller's: refused and audited.

The org of a tool call comes from its token alone, so no tool takes an org.
An agent (or a prompt injection steering it) may still send one: any argument
named like an org, tenant or connection is read before the tool runs, and one
that names anything but the caller's own org (or the connection `default`)
is refused with `cross_org_refused`, as the HTTP API refuses a body naming
another org, and recorded in the caller's audit trail. A tool that takes a
connection (executeSQL's `connectionId`) passes it on instead: connection ids
are names within the token's org, so the query service looks it up there, and
a name the org does not have is a 404 recorded as a refused query.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app import audit
from app.auth.identity import Identity
from app.db import Database
from app.errors.access import CrossOrgRefusedError
from app.http.org_guard import ORG_FIELDS
from app.query_service import CONNECTION_ID

ORG_ARGUMENTS = ORG_FIELDS | {"org", "organization", "organizationSlug", "tenant", "tenantId", "tenant_id"}
CONNECTION_ARGUMENTS = frozenset({"connection", "connectionId", "connection_id", "datasource", "datasourceId"})


def refuse_foreign_arguments(db: Database, ident: Identity, tool: str, arguments: Mapping[str, Any], *,
                             takes: frozenset[str] = frozenset()) -> None:
    """Raise CrossOrgRefusedError (after auditing it) if an argument names another org or connection.

    `takes`: the tool's own parameters, which it checks itself within the org (executeSQL's connectionId).
    """
    assert ident.org_id is not None
    for name, value in arguments.items():
        if value is None or name in takes:
            continue
        text = str(value).strip().lower()
        if name in ORG_ARGUMENTS and text != str(ident.org_id):
            what = "an organization or tenant"
        elif name in CONNECTION_ARGUMENTS and text != CONNECTION_ID:
            what = "a connection"
        else:
            continue
        audit.record_refusal(db, org_id=ident.org_id, action="cross_org.refused", entity="organization",
                             entity_id=str(value)[:100],
                             detail={"field": name, "in": "mcp.arguments", "tool": tool,
                                     "named": str(value)[:100]})
        raise CrossOrgRefusedError(
            f"{name} names {what} other than this token's; the organization comes from the token "
            "alone (another organization needs a token of its own)")
