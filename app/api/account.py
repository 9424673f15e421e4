"""Account endpoints of Better Auth's core: update-user, change-password, request-password-reset, reset-password.

Password reset: a 256-bit token whose sha256 is stored (sql/070_password_resets.sql),
valid for an hour and once. Its link goes to PASSWORD_RESET_SENDER
(`module:function`, called with email=, url=, token=) when configured, else
to the log at WARNING, as invitations are, since no mail server is configured.
A successful reset revokes every session of the user.
"""
from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from flask import Blueprint, g, jsonify, redirect, request
from flask.typing import ResponseReturnValue

from app import auth
from app.api import get_db
from app.api.spec.schemas import STATUS, obj, ref
from app.auth.signin_throttle import RESET
from app.bodies.auth_requests import ChangePassword, RequestPasswordReset, ResetPassword, UpdateUser
from app.bodies.queries import ResetLink, ResetToken
from app.bodies.requests import PASSWORD_MAX, PASSWORD_MIN
from app.endpoint import endpoint
from app.errors import ValidationError
from app.errors.better_auth import (
    EmailUnchangeableError,
    InvalidCallbackUrlError,
    InvalidPasswordError,
    InvalidRedirectUrlError,
    InvalidTokenError,
    PasswordTooLongError,
    PasswordTooShortError,
)
from app.errors.configuration import ConfigurationError
from app.http import origins
from app.http.context import services
from app.http.session_switch import session_kwargs
from app.permissions import LOGIN, PUBLIC

log = logging.getLogger("atlas.account")
bp = Blueprint("account", __name__, url_prefix="/api/auth")
RESET_TTL_S = 3600
RESET_SENT = "If this email exists in our system, check your email for the reset link"


def _check_length(password: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise PasswordTooShortError()
    if len(password) > PASSWORD_MAX:
        raise PasswordTooLongError()


@bp.post("/update-user")
@endpoint(LOGIN, tag="account", body=UpdateUser, response=STATUS, people_only=True)
def update_user(body: UpdateUser) -> ResponseReturnValue:
    """Change the user's name.

    Change the user's name (the email cannot change here; Atlas stores no image).
    """
    if body.email is not None:
        raise EmailUnchangeableError()
    if body.image is not None:
        raise ValidationError("Atlas stores no user image", details={"fields": {"image": "is not stored"}})
    if body.name is None:
        raise ValidationError("No fields to update", details={"fields": {"name": "is required"}})
    with get_db().identity_transaction(user_id=g.identity.user_id) as scope:
        scope.execute("UPDATE users SET name = %s, updated_at = now() WHERE id = %s",
                      (body.name, g.identity.user_id))
    return {"status": True}


@bp.post("/change-password")
@endpoint(LOGIN, tag="account", body=ChangePassword,
          response=obj(("user",), token={"type": "string", "nullable": True}, user=ref("User")), people_only=True)
def change_password(body: ChangePassword) -> ResponseReturnValue:
    """Change the password; revokeOtherSessions ends every session and hands over a fresh one.

    With revokeOtherSessions, every session ends and a fresh one (same org) is handed over.
    """
    _check_length(body.newPassword)
    ident, passwords, db = g.identity, services().passwords, get_db()
    with db.identity_transaction(user_id=ident.user_id) as scope:
        stored = scope.fetch_value("SELECT password_hash FROM users WHERE id = %s", (ident.user_id,))
    if not passwords.verify(stored, body.currentPassword):
        raise InvalidPasswordError()
    new = None
    with db.identity_transaction(user_id=ident.user_id) as scope:
        scope.execute("UPDATE users SET password_hash = %s, updated_at = now() WHERE id = %s",
                      (passwords.hash(body.newPassword), ident.user_id))
        if body.revokeOtherSessions:
            scope.execute("UPDATE sessions SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL",
                          (ident.user_id,))
            new = auth.insert_session(scope, user_id=ident.user_id, org_id=ident.org_id, **session_kwargs())
    log.info("user %s changed their password (other sessions revoked: %s)", ident.user_id,
             bool(body.revokeOtherSessions))
    response = jsonify({"token": new.token if new else None, "user": ident.user})
    if new is not None:
        auth.set_session_cookie(response, new, secure=services().settings.http.cookie_secure)
    return response


def _sender() -> Callable[..., Any] | None:
    spec = services().settings.http.password_reset_sender
    if not spec:
        return None
    module, _, name = spec.partition(":")
    try:
        sender: Callable[..., Any] = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigurationError(f"ATLAS_PASSWORD_RESET_SENDER {spec!r} is not module:function") from exc
    return sender


@bp.post("/request-password-reset")
@endpoint(PUBLIC, tag="account", body=RequestPasswordReset,
          response=obj(("status",), status={"type": "boolean"}, message={"type": "string"}))
def request_password_reset(body: RequestPasswordReset) -> ResponseReturnValue:
    """Send (or log) a reset link; the same answer whether or not the email has an account; 429 RATE_LIMITED
    with Retry-After when requests for the email or from the address come too often.

    Always the same answer, whether or not the email has an account; 429 when requests come too often.

    Charged per email and per address before anything is looked up (app/auth/signin_throttle.py),
    whether or not the email has an account, so the 429 tells nothing about that either.
    """
    redirect_to = body.redirectTo or ""
    if redirect_to and not origins.is_trusted(redirect_to):
        raise InvalidRedirectUrlError()
    services().sign_in_throttle.charge(email=body.email, address=request.remote_addr or "unknown",
                                       purpose=RESET)
    token = auth.new_token()
    with get_db().identity_transaction(auth_email=body.email) as scope:
        user_id = scope.fetch_value("SELECT id FROM users WHERE email = %s", (body.email,))
        if user_id is not None:  # no RETURNING: the row is visible only to the token's holder (sql/070)
            scope.execute("INSERT INTO password_resets (token_hash, user_id, expires_at)"
                          " VALUES (%s, %s, now() + make_interval(secs => %s))",
                          (auth.hash_token(token), user_id, RESET_TTL_S))
    if user_id is not None:
        base = services().settings.http.public_url.rstrip("/")
        url = f"{base}/api/auth/reset-password/{token}?{urlencode({'callbackURL': redirect_to}, quote_via=quote)}"
        sender = _sender()
        if sender is not None:
            sender(email=body.email, url=url, token=token)
        else:
            log.warning("no mail sender configured (ATLAS_PASSWORD_RESET_SENDER): password reset for %s;"
                        " share this link: %s", body.email, url)
    return {"status": True, "message": RESET_SENT}


def _live_reset(token: str, *, consume: bool) -> Any:
    """The user id of a live reset token (marked used when `consume`), or None."""
    query = ("UPDATE password_resets SET used_at = now()" if consume else "SELECT user_id FROM password_resets")
    query += " WHERE token_hash = %(hash)s AND used_at IS NULL AND expires_at > now()"
    token_hash = auth.hash_token(token)
    with get_db().identity_transaction(session_token_hash=token_hash) as scope:
        return scope.fetch_value(query + (" RETURNING user_id" if consume else ""), {"hash": token_hash})


@bp.get("/reset-password/<token>")
@endpoint(PUBLIC, tag="account", query=ResetLink, response=None, status=302)
def reset_password_link(token: str, args: ResetLink) -> ResponseReturnValue:
    """The emailed link: a redirect to callbackURL with ?token= or ?error=INVALID_TOKEN.

    The emailed link: on to callbackURL with ?token= (or ?error=INVALID_TOKEN), as Better Auth does.
    """
    callback = args.callbackURL
    if not callback or not origins.is_trusted(callback):
        raise InvalidCallbackUrlError()
    ok = len(token) <= 200 and _live_reset(token, consume=False) is not None
    query = {"token": token} if ok else {"error": "INVALID_TOKEN"}
    separator = "&" if "?" in callback else "?"
    return redirect(f"{callback}{separator}{urlencode(query)}", code=302)


@bp.post("/reset-password")
@endpoint(PUBLIC, tag="account", body=ResetPassword, query=ResetToken, response=STATUS)
def reset_password(args: ResetToken, body: ResetPassword) -> ResponseReturnValue:
    """Set a new password with a reset token (once, within an hour); every session is revoked."""
    token = body.token or args.token or ""
    if not token or len(token) > 200:
        raise InvalidTokenError()
    _check_length(body.newPassword)
    user_id = _live_reset(token, consume=True)
    if user_id is None:
        raise InvalidTokenError()
    with get_db().identity_transaction(user_id=user_id) as scope:
        scope.execute("UPDATE users SET password_hash = %s, updated_at = now() WHERE id = %s",
                      (services().passwords.hash(body.newPassword), user_id))
        scope.execute("UPDATE sessions SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL", (user_id,))
    log.info("user %s reset their password; every session revoked", user_id)
    return {"status": True}
