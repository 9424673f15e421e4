"""The one enforcement point: a before_request hook checks the matched view's declared access.

The matrix, the declarations and `admit` are app/permissions.py; this module reads the request
(its identity, its token, a body field that chooses an audience) and refuses.
"""
from __future__ import annotations

from flask import Flask, current_app, g, request

from app import auth
from app.auth import api_keys
from app.endpoint import endpoint_of
from app.errors import UnauthorizedError, ValidationError
from app.errors.access import AccessUndeclaredError, ApiKeyRefusedError
from app.http import org_guard
from app.permissions import Access, admit


def check(access: Access) -> None:
    """Raise the right error if the current identity does not satisfy `access`."""
    if access.kind == "public":
        return
    ident = g.get("identity")
    if ident is None:
        token = auth.token_from_request(request)
        if token is not None and api_keys.is_api_key(token):
            raise UnauthorizedError("this API key is not valid: it may have been revoked or expired,"
                                    " or its creator may have left the organization")
        raise UnauthorizedError("sign in first: no valid session (it may have expired or been revoked)")
    if not access.names_target_org:
        org_guard.refuse_foreign_org(ident)
    admit(ident, access, choose=_chosen)


def _chosen(access: Access) -> Access:
    """The audience the request's body field names; 400 for a value that names none."""
    body = request.get_json(silent=True) if request.is_json else None
    value = body.get(access.field, access.default) if isinstance(body, dict) else access.default
    names = [name for name, _ in access.choices]
    if not isinstance(value, str) or value not in names:
        raise ValidationError(f"{access.field} must be " + " or ".join(f'"{name}"' for name in names),
                              details={"fields": {access.field: "must be " + " or ".join(names)}})
    return dict(access.choices)[value]


def _enforce() -> None:
    if request.endpoint is None:  # no route matched: the 404/405 handler answers
        return
    if g.get("identity_pending"):  # a one-trip view: app/http/hot_reads.py enforces with the session it reads
        return
    declared = endpoint_of(current_app.view_functions.get(request.endpoint))
    if declared is None or declared.access is None:
        raise AccessUndeclaredError(f"endpoint {request.endpoint} declares no access rule")
    check(declared.access)
    ident = g.get("identity")
    if ident is not None and ident.api_key_id is not None and declared.people_only:
        raise ApiKeyRefusedError("an API key may not do this: sign in as a person (a key is bound to its "
                                 "organization and role; switching organizations needs a new key)")


def init_app(app: Flask) -> None:
    """Register after request_identity.init_app: the check needs g.identity."""
    app.before_request(_enforce)
