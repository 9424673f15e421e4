"""Refuse requests that name an org other than the session's, and audit the attempt.

The org of every request comes from the session alone. A body, query or path
field that names an org is accepted only when it names the session's org;
anything else is an attempt to reach another tenant: 403, recorded in the
session org's audit trail in its own transaction.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator

from flask import request

from app import audit
from app.errors.access import CrossOrgRefusedError
from app.http.context import services

log = logging.getLogger("atlas.org_guard")

ORG_FIELDS = frozenset({"organizationId", "orgId", "org_id", "organization_id", "activeOrganizationId"})


def _named_orgs() -> Iterator[tuple[str, str, object]]:
    """(where, field, value) for every org-naming field of the request."""
    for name, value in (request.view_args or {}).items():
        if name in ORG_FIELDS:
            yield "path", name, value
    for name in ORG_FIELDS.intersection(request.args.keys()):
        for value in request.args.getlist(name):
            yield "query", name, value
    body = request.get_json(silent=True) if request.is_json else None
    if isinstance(body, dict):
        for where, part in (("body", body), ("body.data", body.get("data"))):
            if isinstance(part, dict):
                for name in ORG_FIELDS.intersection(part.keys()):
                    yield where, name, part[name]


def names_an_org() -> bool:
    """The request names an org anywhere (path, query or body): it must be checked against the session first."""
    return next(_named_orgs(), None) is not None


def refuse_foreign_org(ident: object) -> None:
    """Raise CrossOrgRefusedError (after auditing) if the request names another org."""
    own = getattr(ident, "org_id", None)
    for where, name, value in _named_orgs():
        if value is None or (own is not None and str(value).strip().lower() == str(own)):
            continue
        detail = {"field": name, "in": where, "named_org": str(value)[:100],
                  "method": request.method, "path": request.path}
        if own is not None:
            audit.record_refusal(
                services().db, org_id=own, action="cross_org.refused",
                entity="organization", entity_id=str(value)[:100], detail=detail,
            )
        else:
            log.warning("refused request naming org %r without an active org: %s", value, detail)
        raise CrossOrgRefusedError(
            f"{name} names an organization other than this session's; "
            "switch with POST /api/auth/organization/set-active"
        )
