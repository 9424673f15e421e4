"""The query rate and the sign-in throttle hold across server workers, with PostgreSQL alone and with Redis.

Each request goes out on a fresh connection, so the server spreads them over its two
workers; a per-process counter would admit about twice the limit.
"""
from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.support.errors import error_of
from tests.support.redis_server import SHARED_REDIS, delete_prefixed
from tests.support.serving import atlas_serve, owner_of_new_org, request

RATE = 5
ATTEMPTS = 14


@pytest.fixture(params=["postgres", "redis"])
def served(request, fresh_db, tmp_path):  # type: ignore[no-untyped-def]
    prefix = f"atlas-test:{uuid.uuid4().hex[:12]}"
    # A first back-off of 60 s, not 1 s: under load (argon2 per attempt, a parallel suite) the
    # attempts after the fifth could otherwise outlast a short wait and be checked again.
    env = {"ATLAS_SEMANTIC_ROOT": str(tmp_path / "semantic"), "ATLAS_SIGN_IN_BACKOFF_BASE_S": "60"}
    if request.param == "redis":
        env.update(ATLAS_CACHE_BACKEND="redis", ATLAS_CACHE_REDIS_URL=SHARED_REDIS, ATLAS_CACHE_KEY_PREFIX=prefix)
    try:
        with atlas_serve(fresh_db, tmp_path / "serve.log", workers=2, env=env) as server:
            yield server.port, fresh_db
    finally:
        delete_prefixed(prefix)


def test_an_orgs_query_rate_holds_across_two_workers(served):
    port, _ = served
    token = owner_of_new_org(port, "ratelimited")
    status, _, _ = request(port, "PATCH", "/api/v1/settings", {"queryRatePerMinute": RATE}, token=token)
    assert status == 200
    statuses = [request(port, "POST", "/api/v1/query", {"sql": "SELECT 1 AS one"}, token=token)
                for _ in range(ATTEMPTS)]
    answered = [s for s, _, _ in statuses if s == 200]
    refused = [(h, b) for s, h, b in statuses if s == 429]
    assert len(answered) == RATE and len(refused) == ATTEMPTS - RATE
    assert all(error_of(b)["code"] == "rate_limited" and 1 <= int(h["Retry-After"]) <= 60 for h, b in refused)


def test_the_sign_in_throttle_holds_across_two_workers(served):
    port, db = served
    email = "victim@throttled.test"
    status, _, _ = request(port, "POST", "/api/auth/sign-up/email",
                           {"email": email, "password": "the right one", "name": "V"})
    assert status == 200
    answers = [request(port, "POST", "/api/auth/sign-in/email", {"email": email, "password": f"guess {i}"})
               for i in range(10)]
    assert [s for s, _, _ in answers] == [401] * 5 + [429] * 5  # the default: 5 free attempts per account
    for _, headers, body in answers[5:]:
        assert error_of(body)["code"] == "SIGN_IN_THROTTLED" and int(headers["Retry-After"]) >= 1
    # the right password during the back-off is not even checked
    status, _, body = request(port, "POST", "/api/auth/sign-in/email", {"email": email, "password": "the right one"})
    assert status == 429 and "wait" in error_of(body)["message"]
    with psycopg.connect(db.admin_url) as conn:
        failures, refused = conn.execute(
            "SELECT failures, refused FROM sign_in_throttle WHERE scope = 'account' AND subject = %s",
            (email,)).fetchone()
    assert (failures, refused) == (5, 6)
