"""Agent SQL on a real hot standby (app/replica.py): isolation, lag, revocation, a dead replica.

One primary and one streaming standby for the module (app/devdb/standby.py, a few seconds). Three
apps share the primary's database and differ only in what they do past the lag bound. Lag is made on
purpose by pausing replay (pg_wal_replay_pause) and writing on the primary. The adversarial corpus
runs against the standby under each lock alone (the test functions of tests/test_gateway_attacks.py,
collected here with this module's `data`, which points at the standby).
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from flask import Flask

from app import replica
from app.devdb import databases
from app.devdb.databases import DatabaseFactory
from app.devdb.standby import Pair, start_pair
from app.ops.metrics import REGISTRY
from tests.gateway_corpus.seed import seeded
from tests.support import rows
from tests.support.api import ApiUser, TwoOrgs, build_two_orgs, close_app, make_app
from tests.support.errors import error_of
from tests.test_gateway_attacks import (  # noqa: F401  collected here, against the standby
    test_attack_under_rls_alone,
    test_attack_under_the_gateway_alone,
    test_attacks_leave_the_data_unchanged,
)
from tests.test_query_api import QUERY, entity

TOKEN = "replica-metrics-token"
NAMES = "SELECT name FROM accounts ORDER BY name"
STRICT_LAG_S = 0.5


@dataclass
class World:
    pair: Pair
    db: databases.TestDatabase
    orgs: TwoOrgs
    apps: dict[str, Flask]

    def as_user(self, app: str, org: str, role: str) -> ApiUser:
        """The same signed-in user (session on the primary) through another of the apps."""
        user = self.orgs.user(org, role)
        return dataclasses.replace(user, client=self.apps[app].test_client())


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    started = start_pair()
    yield started
    started.remove()


@pytest.fixture(scope="module")
def factory(pair: Pair) -> Iterator[DatabaseFactory]:
    made = DatabaseFactory(pair.primary.server())
    made.build_template()
    yield made
    made.drop_all()


@pytest.fixture(scope="module")
def world(pair: Pair, factory: DatabaseFactory, tmp_path_factory) -> Iterator[World]:
    db = factory.clone()
    standby_agent = pair.on_standby(db.agent_url)
    root = str(tmp_path_factory.mktemp("semantic"))
    common = {"semantic_root": root, "cache_backend": "none", "agent_replica_url": standby_agent,
              "metrics_token": TOKEN}
    apps = {
        "lenient": make_app(db, **common, agent_max_lag_s=3600.0, agent_replica_fallback="refuse"),
        "fallback": make_app(db, **common, agent_max_lag_s=STRICT_LAG_S, agent_replica_fallback="primary"),
        "refuse": make_app(db, **common, agent_max_lag_s=STRICT_LAG_S, agent_replica_fallback="refuse"),
    }
    try:
        orgs = build_two_orgs(apps["lenient"], db)
        with psycopg.connect(db.admin_url, autocommit=True) as conn:
            for org, names in (("a", ("Acme East", "Acme West")), ("b", ("Globex Main",))):
                for name in names:
                    rows.insert_row(conn, "accounts", orgs.org(org), name=name)
        for org in ("a", "b"):
            r = orgs.user(org, "owner").put("/api/v1/admin/semantic/org/entities/accounts",
                                            json={"yamlContent": entity("accounts")})
            assert r.status_code == 201, r.get_json()
        pair.replayed()
        yield World(pair=pair, db=db, orgs=orgs, apps=apps)
    finally:
        pair.resume()
        for app in apps.values():
            close_app(app)


def _names(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.get_json()
    return [row[0] for row in response.get_json()["rows"]]


def _routed(target: str) -> float:
    return REGISTRY.get_sample_value("atlas_agent_queries_routed_total", {"target": target}) or 0.0


def _lag_s(pair: Pair) -> float:
    with psycopg.connect(pair.standby.admin_url, autocommit=True) as conn:
        return float(conn.execute(replica.LAG_SQL).fetchone()[1])  # type: ignore[index]


def _lagging(world: World, *, name: str) -> None:
    """Pause replay, write an account for org A on the primary, and wait past STRICT_LAG_S."""
    world.pair.pause()
    with psycopg.connect(world.db.admin_url, autocommit=True) as conn:
        rows.insert_row(conn, "accounts", world.orgs.org_a, name=name)
    deadline = time.monotonic() + 30
    while _lag_s(world.pair) <= STRICT_LAG_S:
        assert time.monotonic() < deadline, "the standby never fell behind"
        time.sleep(0.05)


def _caught_up(world: World) -> None:
    world.pair.resume()
    world.pair.replayed()


def test_org_a_gets_only_its_rows_from_the_replica(world):
    before = _routed("replica")
    assert _names(world.as_user("lenient", "a", "member").post(QUERY, json={"sql": NAMES})) == ["Acme East", "Acme West"]
    assert _names(world.as_user("lenient", "b", "member").post(QUERY, json={"sql": NAMES})) == ["Globex Main"]
    assert _routed("replica") == before + 2


def test_the_query_reads_the_replica_not_the_primary(world):
    """A row the standby has not replayed is not in the answer; once replayed, it is."""
    try:
        _lagging(world, name="Acme Late")
        member = world.as_user("lenient", "a", "member")
        assert "Acme Late" not in _names(member.post(QUERY, json={"sql": NAMES}))
    finally:
        _caught_up(world)
    assert "Acme Late" in _names(member.post(QUERY, json={"sql": NAMES}))


def test_past_the_lag_bound_the_query_falls_back_to_the_primary(world):
    before = _routed("primary")
    try:
        _lagging(world, name="Acme Fresh")
        answered = _names(world.as_user("fallback", "a", "member").post(QUERY, json={"sql": NAMES}))
    finally:
        _caught_up(world)
    assert "Acme Fresh" in answered and "Globex Main" not in answered
    assert _routed("primary") == before + 1


def test_past_the_lag_bound_refuse_answers_503_naming_the_setting(world):
    try:
        _lagging(world, name="Acme Refused")
        r = world.as_user("refuse", "a", "member").post(QUERY, json={"sql": NAMES})
    finally:
        _caught_up(world)
    assert r.status_code == 503, r.get_json()
    error = error_of(r)
    assert error["code"] == "agent_replica_unavailable"
    assert "ATLAS_AGENT_MAX_LAG_S" in error["message"] and "behind the primary" in error["message"]
    assert int(r.headers["Retry-After"]) >= 1


def test_revocation_binds_at_once_though_the_replica_has_not_seen_it(world):
    """Sessions are checked on the primary: a stale replica cannot bring a revoked session back."""
    member = world.as_user("lenient", "a", "admin")
    assert member.post(QUERY, json={"sql": NAMES}).status_code == 200
    try:
        world.pair.pause()
        assert member.post("/api/auth/sign-out").status_code == 200
        r = member.post(QUERY, json={"sql": NAMES})
    finally:
        _caught_up(world)
    assert r.status_code == 401, r.get_json()


def test_readiness_health_and_metrics_report_the_replica_and_its_lag(world):
    client = world.apps["lenient"].test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    reported = ready.get_json()["agentReplica"]
    assert reported["status"] == "ok" and reported["lagSeconds"] >= 0 and reported["maxLagSeconds"] == 3600
    assert client.get("/healthz").get_json()["agentReplica"]["status"] == "ok"
    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(as_text=True)
    assert "atlas_agent_replica_up 1.0" in scraped
    assert "atlas_agent_replica_lag_seconds" in scraped and "atlas_agent_queries_routed_total" in scraped


def test_a_dead_replica_falls_back_or_refuses_with_a_message_never_a_bare_5xx(world):
    world.pair.standby.stop("immediate")
    try:
        fallback = world.as_user("fallback", "a", "member").post(QUERY, json={"sql": NAMES})
        answered = _names(fallback)
        assert {"Acme East", "Acme West"} <= set(answered) and "Globex Main" not in answered
        refused = world.as_user("refuse", "a", "member").post(QUERY, json={"sql": NAMES})
        assert refused.status_code == 503, refused.get_json()
        assert error_of(refused)["code"] == "agent_replica_unavailable"
        assert "ATLAS_AGENT_REPLICA_URL" in error_of(refused)["message"]
        assert refused.headers["Retry-After"]
        ready = world.apps["refuse"].test_client().get("/readyz")
        assert ready.status_code == 200 and ready.get_json()["agentReplica"]["status"] == "down"
    finally:
        world.pair.standby.start()


# ----- the adversarial corpus on the standby, each lock alone ----------------------------------------
@pytest.fixture(scope="module")
def data(pair: Pair, factory: DatabaseFactory):
    """tests/test_gateway_attacks.py's seeded databases, the full one read on the standby."""
    built = seeded(factory, solo_for=("orga",))
    pair.replayed()
    full = dataclasses.replace(built.full, admin_url=pair.on_standby(built.full.admin_url),
                               agent_url=pair.on_standby(built.full.agent_url),
                               app_url=pair.on_standby(built.full.app_url))
    return dataclasses.replace(built, full=full)


@pytest.fixture(scope="module")
def conns(data):
    full = psycopg.connect(data.full.admin_url, autocommit=True)
    solo = psycopg.connect(data.solo["orga"].admin_url, autocommit=True)
    assert full.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
    yield full, solo
    full.close()
    solo.close()
