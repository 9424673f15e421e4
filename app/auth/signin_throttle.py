"""Sign-in throttling per account and per client address, with growing back-off.

Every attempt is charged before the password is checked (app.charge_sign_in,
sql/061_limits.sql), so parallel guesses are all counted, in PostgreSQL, where
every worker and app server sees them and a Redis restart cannot wipe them.
After `account_free` charged attempts an account must wait base, 2 base, 4
base ... (up to `max_s`) between attempts; an address likewise after
`address_free`. A refused attempt (429 with Retry-After) is not checked,
charges nothing, is logged at WARNING and counted in `sign_in_throttle.refused`.
A correct password resets the account and refunds the address's charge.

Password-reset requests are charged the same way on counters of their own
(`charge(..., purpose=RESET)`, sql/097_reset_request_throttle.sql), so nobody can
have reset mails sent to an address without limit, and reset requests and
failed sign-ins never hold each other back.

Why an attacker cannot lock a user out for long: the account's wait is capped
at `max_s`, and an attacker's own address hits its limit after `address_free`
attempts, so one address cannot keep charging an account.
"""
from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from app.config import SignInSettings
from app.db import Database
from app.errors import RateLimitedError
from app.errors.sign_in import SignInThrottledError

log = logging.getLogger("atlas.signin")
SIGN_IN, RESET = "sign_in", "reset"


@dataclass(frozen=True)
class _Purpose:
    """What is charged: its two scopes in sign_in_throttle, how the 429 and the log name it, the 429."""

    account_scope: str
    address_scope: str
    counted: str
    logged_as: str
    refusal: type[RateLimitedError]


_PURPOSES = {SIGN_IN: _Purpose("account", "address", "sign-in attempts", "sign-in", SignInThrottledError),
             RESET: _Purpose("reset_account", "reset_address", "password-reset requests", "password reset",
                             RateLimitedError)}


class SignInThrottle:
    """`charge` before checking a password, `succeeded` after a correct one."""

    def __init__(self, db: Database, policy: SignInSettings, *,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self._db = db
        self.policy = policy
        self._clock = clock  # tests only; None = the database's clock

    def charge(self, *, email: str, address: str, purpose: str = SIGN_IN) -> int:
        """Count one attempt for both keys, or raise SignInThrottledError (a reset: RateLimitedError);
        returns the account's count."""
        p, what = self.policy, _PURPOSES[purpose]
        at = self._clock() if self._clock is not None else None
        with self._db.identity_transaction(auth_email=email) as scope:
            row = scope.fetch_one(
                "SELECT refused_scope, retry_after_s, failures FROM app.charge_attempt("
                "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (what.account_scope, what.address_scope, email.lower(), address, p.account_free_attempts,
                 p.address_free_attempts, p.backoff_base_s, p.backoff_max_s, p.forget_after_s, at))
        assert row is not None
        if row["refused_scope"] is not None:
            wait_s = math.ceil(row["retry_after_s"])
            by_account = row["refused_scope"] == what.account_scope
            log.warning("%s throttled: %s %s must wait %d s", what.logged_as, "account" if by_account else "address",
                        email.lower() if by_account else address, wait_s)
            raise what.refusal(
                f"too many {what.counted} for {'this account' if by_account else 'this address'};"
                f" wait {wait_s} s before trying again", retry_after_s=wait_s)
        failures = int(row["failures"])
        if failures >= p.account_free_attempts:
            log.warning("%s back-off engaged for account %s after %d attempts", what.logged_as, email.lower(), failures)
        return failures

    def succeeded(self, *, email: str, address: str) -> None:
        with self._db.identity_transaction(auth_email=email) as scope:
            scope.execute("SELECT app.sign_in_succeeded(%s, %s)", (email.lower(), address))
