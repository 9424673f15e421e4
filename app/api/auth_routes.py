"""Auth endpoints with Better Auth's paths and payloads: sign-up, sign-in, sign-out, get-session."""
from __future__ import annotations

import uuid
from typing import Any

import psycopg
from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue

from app import auth
from app.api import get_db
from app.api.spec.schemas import SESSION, obj, ref
from app.auth import identity
from app.bodies.requests import SignIn, SignUp
from app.endpoint import endpoint
from app.errors.better_auth import InvalidCallbackUrlError, InvalidCredentialsError
from app.errors.sign_in import UserExistsError
from app.http import origins
from app.http.context import services
from app.http.session_switch import session_kwargs
from app.permissions import PUBLIC
from app.sso import accounts as sso_accounts

bp = Blueprint("auth", __name__, url_prefix="/api/auth")


def _signed_in(new: auth.NewSession, user: dict[str, Any], *, callback_url: str | None = None) -> ResponseReturnValue:
    """Better Auth's answer: with a callbackURL, `redirect: true`, the URL, and a Location header."""
    response = jsonify({"redirect": bool(callback_url), "token": new.token, "url": callback_url or None,
                        "user": user})
    if callback_url:
        response.headers["Location"] = callback_url
    auth.set_session_cookie(response, new, secure=services().settings.http.cookie_secure)
    return response


@bp.post("/sign-up/email")
@endpoint(PUBLIC, tag="auth", body=SignUp, response=ref("SignedIn"))
def sign_up(body: SignUp) -> ResponseReturnValue:
    """Create a user and sign in (422 if the email is taken)

    Create the user and sign them in; the users policy admits only the email being signed up.
    """
    email, password, name = body.email, body.password, body.name
    password_hash = services().passwords.hash(password)
    user_id = uuid.uuid4()
    try:
        with get_db().identity_transaction(user_id=user_id, auth_email=email) as scope:
            user = scope.fetch_one(
                "INSERT INTO users (id, email, name, password_hash) VALUES (%s, %s, %s, %s)"
                " RETURNING id, email, name, platform_role, email_verified, created_at, updated_at",
                (user_id, email, name, password_hash),
            )
            new = auth.insert_session(scope, user_id=user_id, org_id=None, **session_kwargs())
    except psycopg.errors.UniqueViolation:
        raise UserExistsError() from None
    assert user is not None
    return _signed_in(new, auth.user_json(user))


@bp.post("/sign-in/email")
@endpoint(PUBLIC, tag="auth", body=SignIn, response=ref("SignedIn"), control_plane=True)
def sign_in(body: SignIn) -> ResponseReturnValue:
    """Sign in; the session is bound to the org used last (else the earliest); callbackURL as Better Auth's.

    429 sign_in_throttled in back-off; 403 INVALID_CALLBACK_URL for a callbackURL off the trusted
    origins, before any password check (as Better Auth's origin check); 403 sso_required when an
    org of the user signs in by SSO only (app/sso/accounts.py).
    """
    email, password = body.email, body.password
    if body.callbackURL and not origins.is_trusted(body.callbackURL):
        raise InvalidCallbackUrlError()
    db, passwords = get_db(), services().passwords
    address = request.remote_addr or "unknown"
    throttle = services().sign_in_throttle
    throttle.charge(email=email, address=address)  # 429 sign_in_throttled before any password check
    with db.identity_transaction(auth_email=email) as scope:
        user = scope.fetch_one(
            "SELECT id, email, name, password_hash, platform_role, email_verified, created_at,"
            " updated_at FROM users WHERE email = %s",
            (email,),
        )
    if not passwords.verify(user["password_hash"] if user else None, password) or user is None:
        raise InvalidCredentialsError()
    throttle.succeeded(email=email, address=address)
    sso_accounts.refuse_password(db, user_id=user["id"], platform_role=user["platform_role"])
    with db.identity_transaction(user_id=user["id"]) as scope:
        if passwords.needs_rehash(user["password_hash"]):
            scope.execute("UPDATE users SET password_hash = %s, updated_at = now() WHERE id = %s",
                          (passwords.hash(password), user["id"]))
        org_id = auth.sign_in_org_of(scope, user_id=user["id"])
        new = auth.insert_session(scope, user_id=user["id"], org_id=org_id, **session_kwargs())
    return _signed_in(new, auth.user_json(user), callback_url=body.callbackURL)


@bp.post("/sign-out")
@endpoint(PUBLIC, tag="auth", response=obj(success={"type": "boolean"}))
def sign_out() -> ResponseReturnValue:
    """Revoke the presented session (idempotent) and clear the cookie."""
    token = auth.token_from_request(request)
    if token is not None:
        token_hash = auth.hash_token(token)
        auth.revoke_session(get_db(), token_hash=token_hash)
    response = jsonify({"success": True})
    auth.clear_session_cookie(response, secure=services().settings.http.cookie_secure)
    return response


@bp.get("/get-session")
@endpoint(PUBLIC, tag="auth",
          response={**obj(("session", "user"), user=ref("User"), session=SESSION), "nullable": True})
def get_session() -> ResponseReturnValue:
    """The session, its active org and role, and the user; null without a live session.

    The session and its user; 200 null without a live session, as Better Auth answers.
    """
    ident = g.identity
    if ident is None:
        return jsonify(None)
    return {"session": identity.session_json(ident, token=auth.token_from_request(request)), "user": ident.user}
