"""Making an org the active one the Atlas way: a fresh session bound to it.

Better Auth moves `activeOrganizationId` on the same session when an org is
created, an invitation accepted or set-active called; Atlas binds a session to
one org for its whole life (the reference design: "switching organizations
forces a fresh session"). The new token reaches both client styles: the
session cookie is replaced, and `set-auth-token` carries it for bearer clients.
set-active consumes the presented session in the same transaction (of
concurrent switches with one token exactly one succeeds); create and
accept-invitation leave it live, bound to its own org, so an idempotent retry
of a create can still replay its answer.
"""
from __future__ import annotations

import uuid
from typing import Any

from flask import Response, request

from app import auth
from app.db import Scope
from app.http.context import services
from app.sso import gate


def session_kwargs() -> dict[str, Any]:
    return {
        "ttl_s": services().settings.http.session_ttl_s,
        "user_agent": request.user_agent.string or None,
        "ip_address": request.remote_addr,
    }


def mint(scope: Scope, ident: Any, org_id: uuid.UUID) -> auth.NewSession:
    """A new session for the caller's user, bound to `org_id`, in the transaction that made them a member.

    The scope must carry app.user_id = the caller (the sessions policy); the
    same transaction, so a rollback (or an idempotent replay) mints nothing.
    The new session inherits the presented one's auth_method, and an org that
    requires SSO refuses a session not born of its own provider (app/sso/gate.py).
    """
    method = gate.method_of(scope, ident.token_hash)
    gate.admit(scope, org_id=org_id, auth_method=method, platform_role=ident.platform_role)
    return auth.insert_session(scope, user_id=ident.user_id, org_id=org_id, auth_method=method, **session_kwargs())


def hand_over(response: Response, new: auth.NewSession | None) -> Response:
    """Give the client its new token, as cookie and `set-auth-token` header."""
    if new is not None:
        auth.set_session_cookie(response, new, secure=services().settings.http.cookie_secure)
    return response
