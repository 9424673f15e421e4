"""Sign-in throttling: growing back-off per account and per address, 429 with Retry-After, recorded.

API tests use the Flask client (REMOTE_ADDR set per request); the back-off
schedule is checked on the throttle itself with an injected clock.
"""
from __future__ import annotations

import datetime as dt
import logging

import psycopg
import pytest

from app.auth.signin_throttle import SignInThrottle
from app.config import Settings, SignInSettings
from app.errors.sign_in import SignInThrottledError
from tests.support.api import PASSWORD, sign_up
from tests.support.errors import error_of

SIGN_IN = "/api/auth/sign-in/email"


def attempt(app, email: str, password: str, address: str = "203.0.113.7"):  # type: ignore[no-untyped-def]
    return app.test_client().post(SIGN_IN, json={"email": email, "password": password},
                                  environ_base={"REMOTE_ADDR": address})


def test_wrong_passwords_meet_a_429_with_retry_after_and_are_recorded(api_app, fresh_db, caplog):
    sign_up(api_app, "victim@acme.test")
    statuses = [attempt(api_app, "victim@acme.test", f"guess {i}").status_code for i in range(5)]
    assert statuses == [401] * 5
    with caplog.at_level(logging.WARNING, logger="atlas.signin"):
        refused = attempt(api_app, "victim@acme.test", PASSWORD)  # even the right password waits
    assert refused.status_code == 429
    error = error_of(refused)
    assert error["code"] == "SIGN_IN_THROTTLED" and "this account" in error["message"]
    assert int(refused.headers["Retry-After"]) >= 1
    assert any("sign-in throttled" in r.getMessage() and "victim@acme.test" in r.getMessage()
               for r in caplog.records)
    with psycopg.connect(fresh_db.admin_url) as conn:
        row = conn.execute("SELECT failures, refused, last_refused_at IS NOT NULL FROM sign_in_throttle"
                           " WHERE scope = 'account' AND subject = 'victim@acme.test'").fetchone()
    assert row == (5, 1, True)


def test_a_success_resets_the_accounts_counter(api_app, fresh_db):
    sign_up(api_app, "forgetful@acme.test")
    assert [attempt(api_app, "forgetful@acme.test", "nope").status_code for _ in range(4)] == [401] * 4
    assert attempt(api_app, "forgetful@acme.test", PASSWORD).status_code == 200
    assert [attempt(api_app, "forgetful@acme.test", "nope").status_code for _ in range(5)] == [401] * 5


def test_an_attacking_address_is_stopped_and_cannot_keep_other_accounts_locked(fresh_db):
    from tests.support.api import close_app, make_app

    app = make_app(fresh_db, sign_in_address_free_attempts=8, sign_in_backoff_base_s=60)
    try:
        for name in ("one", "two", "three"):
            sign_up(app, f"{name}@acme.test")
        attacker = "198.51.100.66"
        # spraying one guess at many accounts: the address runs out after 8 attempts
        sprayed = [attempt(app, f"{name}@acme.test", "Winter2030!", attacker).status_code
                   for name in ("one", "two", "three") * 4]
        assert sprayed[:8] == [401] * 8 and set(sprayed[8:]) == {429}
        refused = attempt(app, "one@acme.test", "Winter2030!", attacker)
        assert "this address" in error_of(refused)["message"]
        # no account was pushed into back-off, so their owners sign in from their own addresses
        for name in ("one", "two", "three"):
            assert attempt(app, f"{name}@acme.test", PASSWORD, "192.0.2.10").status_code == 200
    finally:
        close_app(app)


def test_the_back_off_grows_and_is_capped(fresh_db):
    from app.db import Database

    db = Database(fresh_db.app_url, min_size=0, max_size=1).open()
    now = [dt.datetime(2030, 1, 1, tzinfo=dt.UTC)]
    throttle = SignInThrottle(db, SignInSettings(account_free_attempts=2, address_free_attempts=100,
                                                 backoff_base_s=1, backoff_max_s=8, forget_after_s=60), clock=lambda: now[0])
    waits = []
    try:
        for _ in range(8):
            while True:
                try:
                    throttle.charge(email="target@acme.test", address="192.0.2.1")
                    break
                except SignInThrottledError as refused:
                    waits.append(refused.retry_after_s)
                    now[0] += dt.timedelta(seconds=refused.retry_after_s)
        assert waits == [1, 2, 4, 8, 8, 8]
        now[0] += dt.timedelta(seconds=61)  # quiet past SIGN_IN_FORGET_AFTER_S: forgotten
        throttle.charge(email="target@acme.test", address="192.0.2.1")
        throttle.charge(email="target@acme.test", address="192.0.2.1")
        with pytest.raises(SignInThrottledError):
            throttle.charge(email="target@acme.test", address="192.0.2.1")
    finally:
        db.close()


@pytest.mark.parametrize("config", [{"ATLAS_SIGN_IN_ACCOUNT_FREE_ATTEMPTS": "0"}, {"ATLAS_SIGN_IN_BACKOFF_BASE_S": "x"},
                                    {"ATLAS_SIGN_IN_BACKOFF_MAX_S": "10", "ATLAS_SIGN_IN_FORGET_AFTER_S": "5"}])
def test_bad_throttle_settings_are_named(config):
    from app.errors.configuration import ConfigurationError

    with pytest.raises(ConfigurationError, match="ATLAS_SIGN_IN_"):
        Settings.from_env(config)


# ----- password-reset requests (sql/097_reset_request_throttle.sql) -----------------------------
RESET = "/api/auth/request-password-reset"


@pytest.fixture
def reset_app(fresh_db):  # type: ignore[no-untyped-def]
    """A first back-off of 60 s: a slow machine cannot outlast the wait between two requests."""
    from tests.support.api import close_app, make_app

    app = make_app(fresh_db, sign_in_backoff_base_s=60)
    yield app
    close_app(app)


def ask_reset(app, email: str, address: str):  # type: ignore[no-untyped-def]
    return app.test_client().post(RESET, json={"email": email}, environ_base={"REMOTE_ADDR": address})


def _resets_for(db, email: str) -> int:  # type: ignore[no-untyped-def]
    with psycopg.connect(db.admin_url) as conn:
        return conn.execute("SELECT count(*) FROM password_resets r JOIN users u ON u.id = r.user_id"
                            " WHERE u.email = %s", [email]).fetchone()[0]


def test_mail_bombing_a_victim_with_reset_requests_stops_after_the_free_ones(reset_app, fresh_db):
    sign_up(reset_app, "bombed@acme.test")
    # the attacker rotates addresses: the victim's account counter still stops the flood
    statuses = [ask_reset(reset_app, "bombed@acme.test", f"198.51.100.{i}").status_code for i in range(9)]
    assert statuses == [200] * 5 + [429] * 4
    refused = ask_reset(reset_app, "bombed@acme.test", "198.51.100.200")
    assert error_of(refused)["code"] == "RATE_LIMITED" and "password-reset requests" in error_of(refused)["message"]
    assert int(refused.headers["Retry-After"]) >= 1
    assert _resets_for(fresh_db, "bombed@acme.test") == 5  # a refused request mails and stores nothing


def test_a_throttled_reset_for_an_unknown_email_answers_like_a_known_one(reset_app, fresh_db):
    sign_up(reset_app, "known@acme.test")
    known = [ask_reset(reset_app, "known@acme.test", "192.0.2.1") for _ in range(6)]
    unknown = [ask_reset(reset_app, "unknown@acme.test", "192.0.2.2") for _ in range(6)]
    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [200] * 5 + [429]
    assert [r.get_json() for r in known[:5]] == [r.get_json() for r in unknown[:5]]
    assert error_of(known[5])["message"] == error_of(unknown[5])["message"]


def test_one_address_asking_for_many_accounts_is_stopped(fresh_db):
    from tests.support.api import close_app, make_app

    app = make_app(fresh_db, sign_in_address_free_attempts=3, sign_in_backoff_base_s=60)
    try:
        statuses = [ask_reset(app, f"user{i}@acme.test", "203.0.113.99").status_code for i in range(5)]
        assert statuses == [200] * 3 + [429] * 2
        assert "this address" in error_of(ask_reset(app, "user9@acme.test", "203.0.113.99"))["message"]
        assert ask_reset(app, "user9@acme.test", "203.0.113.100").status_code == 200  # another address is free
    finally:
        close_app(app)


def test_reset_requests_and_sign_ins_never_hold_each_other_back(reset_app, fresh_db):
    sign_up(reset_app, "both@acme.test")
    assert [ask_reset(reset_app, "both@acme.test", "192.0.2.7").status_code for _ in range(6)][-1] == 429
    assert attempt(reset_app, "both@acme.test", PASSWORD, "192.0.2.7").status_code == 200
    assert [attempt(reset_app, "both@acme.test", "wrong", "192.0.2.8").status_code for _ in range(6)][-1] == 429
    assert ask_reset(reset_app, "other@acme.test", "192.0.2.8").status_code == 200
    with psycopg.connect(fresh_db.admin_url) as conn:
        scopes = dict(conn.execute("SELECT scope, failures FROM sign_in_throttle WHERE subject = 'both@acme.test'"))
    assert scopes == {"reset_account": 5, "account": 5}
