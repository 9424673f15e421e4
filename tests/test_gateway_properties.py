"""Property-based: generated honest queries keep their meaning and never leak, under each lock alone.

For every generated query and org:
  * lock 1 alone: the gateway's SQL run as the superuser (RLS bypassed) on all
    orgs' rows equals the query run on the database holding only that org;
  * lock 2 alone: the query's own text run as the agent role (RLS on, no
    gateway) on all orgs' rows equals the same.
"""
from __future__ import annotations

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.gateway import prepare
from app.query_settings import CRM_TABLES
from tests.gateway_corpus.compare import fetch_as_agent, fetch_superuser, multiset
from tests.gateway_corpus.generate import analytic_query
from tests.gateway_corpus.seed import seeded

ORGS = ("orga", "orgb")
PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def dbs(db_factory):
    data = seeded(db_factory, solo_for=ORGS)
    conns = {"full": psycopg.connect(data.full.admin_url, autocommit=True)}
    conns.update({slug: psycopg.connect(data.solo[slug].admin_url, autocommit=True) for slug in ORGS})
    yield data, conns
    for conn in conns.values():
        conn.close()


@PROPERTY_SETTINGS
@given(query=analytic_query(), slug=st.sampled_from(ORGS))
def test_generated_queries_keep_meaning_and_never_leak_under_the_gateway(dbs, query, slug):
    data, conns = dbs
    prepared = prepare(query, org_id=data.orgs[slug], allowed_tables=CRM_TABLES, row_limit=100_000)
    got = fetch_superuser(conns["full"], prepared.sql)
    assert multiset(got) == multiset(fetch_superuser(conns[slug], query)), prepared.sql


@PROPERTY_SETTINGS
@given(query=analytic_query(), slug=st.sampled_from(ORGS))
def test_generated_queries_never_leak_under_rls_alone(dbs, query, slug):
    data, conns = dbs
    got = fetch_as_agent(data.full.agent_url, query, org_id=data.orgs[slug])
    assert multiset(got) == multiset(fetch_superuser(conns[slug], query))
