"""What the console's shells are built from: the CRM declarations and the admin pages with who may see them.

`need` strings are read by static/console/js/shell.js against the role matrix
(app/permissions.py) the shell embeds: `matrix:<resource>:<action>`,
`roles:<role>,<role>`, `platform`, joined by `|` (any one admits). A link's
need is the declared access (app/endpoint.py) of the API endpoints its page
acts through, so it is never written twice. Needs only decide which links are
shown; the API decides what anyone may do.
"""
from __future__ import annotations

from typing import Any

from app.api import (
    api_key_routes,
    audit_routes,
    cache_routes,
    connection_routes,
    invitations,
    jobs_routes,
    oauth_routes,
    platform_admin,
    role_routes,
    scim_token_routes,
    semantic_routes,
    settings_routes,
    sso_routes,
    team_routes,
)
from app.endpoint import endpoint_of
from app.entities import ENTITIES, Entity, Field
from app.jobs.payloads import WARM_RECENT_DEFAULT, WARM_RECENT_MAX
from app.permissions import Access


def need_of(access: Access) -> str:
    """An access declaration in the shell's notation (one audience; `|` for several)."""
    if access.kind == "matrix":
        return f"matrix:{access.resource}:{access.action}"
    if access.kind == "roles":
        return "roles:" + ",".join(access.roles)
    if access.kind == "platform_admin":
        return "platform"
    if access.kind == "either":
        return "|".join(need_of(a) for a in access.alternatives)
    if access.kind == "by_field":
        return "|".join(need_of(a) for _, a in access.choices)
    raise ValueError(f"the console shows no link for access {access.kind!r}")


def shown_to(*views: object) -> str:
    """Who sees a page's link: whoever may call one of the endpoints the page acts through."""
    return "|".join(need_of(declared.access) for declared in map(endpoint_of, views)
                    if declared is not None and declared.access is not None)


ADMIN_LINKS: tuple[dict[str, str], ...] = (
    {"path": "/admin/members", "label": "Members & invitations", "need": shown_to(invitations.list_invitations)},
    {"path": "/admin/semantic", "label": "Semantic layer", "need": shown_to(semantic_routes.put_entity)},
    {"path": "/admin/settings", "label": "Settings", "need": shown_to(settings_routes.patch_settings)},
    {"path": "/admin/api-keys", "label": "API keys", "need": shown_to(api_key_routes.list_keys)},
    {"path": "/admin/sso", "label": "Single sign-on", "need": shown_to(sso_routes.list_providers)},
    {"path": "/admin/teams", "label": "Teams", "need": shown_to(team_routes.create_team)},
    {"path": "/admin/roles", "label": "Roles", "need": shown_to(role_routes.create_role)},
    {"path": "/admin/scim", "label": "SCIM provisioning", "need": shown_to(scim_token_routes.list_tokens)},
    {"path": "/admin/connections", "label": "Connections",
     "need": shown_to(connection_routes.create_connection, platform_admin.list_organizations)},
    {"path": "/admin/audit", "label": "Audit log", "need": shown_to(audit_routes.list_audit)},
    {"path": "/admin/cache", "label": "Cache", "need": shown_to(cache_routes.flush_cache)},
)

# Pages beside Ask that are not administration: every role the matrix lets read them sees them.
ANALYTICS_LINKS: tuple[dict[str, str], ...] = (
    {"path": "/jobs", "label": "Jobs", "need": shown_to(jobs_routes.list_jobs)},
    # every member's own OAuth grants (not administration: each person sees only theirs)
    {"path": "/mcp-clients", "label": "MCP clients", "need": shown_to(oauth_routes.list_grants)},
)

# The queue form's fields per job kind the API offers (app/jobs/kinds.py PUBLIC_KINDS checks them; a
# test keeps every public kind here). `payload` fields go into the job's payload under their name.
JOB_FORMS: dict[str, dict[str, Any]] = {
    "reprofile": {
        "summary": "Profile the organization's tables again and update the semantic layer (what atlas init "
                   "--org does), one progress step per table.",
        "payload": [{"name": "tables", "label": "Tables", "control": "input", "type": "text", "list": True,
                     "hint": "comma-separated; empty: every table the agent may read"}],
    },
    "scheduled_query": {
        "summary": "Run an agent query on a cron schedule and keep each result (needs a schedule).",
        "payload": [{"name": "sql", "label": "SQL", "control": "textarea", "required": True,
                     "hint": "one SELECT, through the same gateway as Ask"}],
    },
    "warm_cache": {
        "summary": "Run the organization's saved queries (its scheduled queries and recent agent queries) so "
                   "the query cache holds their answers.",
        "payload": [{"name": "recent", "label": "Recent queries", "control": "input", "type": "number",
                     "int": True, "min": 0, "max": WARM_RECENT_MAX,
                     "hint": f"how many recent agent queries to warm (0 to {WARM_RECENT_MAX}; empty: "
                             f"{WARM_RECENT_DEFAULT})"}],
    },
}

LIST_COLUMNS = 5
_LONG_TEXT = 1000  # longer text fields get a textarea and stay out of the list


def _title(entity: Entity) -> str:
    return entity.name.replace("-", " ").capitalize()


def entity_links() -> list[dict[str, str]]:
    return [{"path": f"/crm/{e.name}", "label": _title(e)} for e in ENTITIES.values()]


def _input(field: Field) -> dict[str, Any]:
    """How the form shows a field: an input type, a select or a textarea, with the declared limits."""
    control: dict[str, Any] = {"name": field.name, "label": field.name.replace("_", " ").capitalize(),
                               "kind": field.kind, "required": field.required, "nullable": field.nullable,
                               "choices": list(field.choices), "max_len": field.max_len,
                               "minimum": field.minimum, "maximum": field.maximum, "hint": field.pattern_hint}
    if field.choices:
        control["control"] = "select"
    elif field.kind == "bool":
        control["control"] = "checkbox"
    elif field.kind == "text" and (field.max_len or 0) > _LONG_TEXT:
        control["control"] = "textarea"
    else:
        control["control"] = "input"
        control["type"] = {"email": "email", "int": "number", "decimal": "number", "date": "date",
                           "datetime": "datetime-local"}.get(field.kind, "text")
        control["step"] = {"int": "1", "decimal": "any"}.get(field.kind)
    return control


def crm_view(entity: Entity) -> dict[str, Any]:
    """The list's columns, sort keys and filters, and the form's controls, from the entity's declaration."""
    shown = [f.name for f in entity.fields
             if f.kind not in ("ref",) and f.writable and (f.max_len or 0) <= _LONG_TEXT][:LIST_COLUMNS]
    return {
        "name": entity.name,
        "title": _title(entity),
        "singular": entity.singular or entity.name,
        "columns": [*shown, "created_at"],
        "sortable": list(entity.sortable),
        "default_sort": entity.default_sort,
        "filters": [_input(f) for f in entity.filterable.values() if f.kind != "datetime"],
        "controls": [_input(f) for f in entity.writable.values()],
    }
