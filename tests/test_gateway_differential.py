"""The heart of the gateway proof: no leak and no change of meaning.

For every honest analytic query of the corpus and two of the three seeded orgs,
the gateway's rewritten SQL, run as the superuser (RLS bypassed: the rewrite
alone holds) on the database of all orgs, returns exactly the multiset of rows
the original query returns on a database that holds only that org's rows.
"""
from __future__ import annotations

import psycopg
import pytest
import sqlglot
from sqlglot import exp

from app.gateway import prepare
from app.query_settings import CRM_TABLES
from tests.gateway_corpus import load_corpus
from tests.gateway_corpus.compare import fetch_superuser, multiset
from tests.gateway_corpus.seed import seeded

CORPUS = load_corpus("analytic.sql")
ORGS = ("orga", "orgb")
ROW_LIMIT = 50_000


@pytest.fixture(scope="module")
def dbs(db_factory):
    data = seeded(db_factory, solo_for=ORGS)
    conns = {"full": psycopg.connect(data.full.admin_url, autocommit=True)}
    for slug in ORGS:
        conns[slug] = psycopg.connect(data.solo[slug].admin_url, autocommit=True)
    yield data, conns
    for conn in conns.values():
        conn.close()


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 150


@pytest.mark.parametrize("slug", ORGS)
@pytest.mark.parametrize("entry", CORPUS, ids=[e.name for e in CORPUS])
def test_rewritten_query_returns_exactly_the_single_org_rows(dbs, entry, slug):
    data, conns = dbs
    prepared = prepare(entry.sql, org_id=data.orgs[slug], allowed_tables=CRM_TABLES, row_limit=ROW_LIMIT)
    got = fetch_superuser(conns["full"], prepared.sql)
    want = fetch_superuser(conns[slug], entry.sql)
    assert len(got) <= ROW_LIMIT, "the corpus must fit the row limit to compare whole results"
    assert multiset(got) == multiset(want)


def test_the_corpus_would_catch_a_missing_filter(dbs):
    """Most queries answer differently on all orgs' rows: a leak could not hide."""
    data, conns = dbs
    differing = [
        e.name for e in CORPUS
        if multiset(fetch_superuser(conns["full"], e.sql)) != multiset(fetch_superuser(conns["orga"], e.sql))
    ]
    assert len(differing) >= 0.85 * len(CORPUS), sorted({e.name for e in CORPUS} - set(differing))


def test_the_corpus_returns_rows(dbs):
    """Empty results would prove little: nearly every query returns something for each org."""
    data, conns = dbs
    for slug in ORGS:
        empty = [e.name for e in CORPUS if not fetch_superuser(conns[slug], e.sql)]
        assert len(empty) <= 0.05 * len(CORPUS), empty


def _outer_only_injector(sql_text: str, org_id: object) -> str:
    """The known-bad injector: a predicate on the outermost query's FROM table only."""
    tree = sqlglot.parse_one(sql_text, read="postgres")
    table = tree.args["from_"].this
    qualifier = table.alias_or_name
    return tree.where(f"{qualifier}.org_id = '{org_id}'", dialect="postgres").sql(dialect="postgres")


@pytest.mark.parametrize(
    "name",
    [
        "scalar_subquery_in_select_known_bad_shape",
        "scalar_subquery_in_having_known_bad_shape",
        "scalar_subquery_in_order_by_known_bad_shape",
        "scalar_subquery_in_join_on_known_bad_shape",
    ],
)
def test_differential_check_catches_the_outer_only_injector(dbs, name):
    """The same comparison fails for the injector that filters only the outer table."""
    data, conns = dbs
    entry = next(e for e in CORPUS if e.name == name)
    naive = _outer_only_injector(entry.sql, data.orgs["orga"])
    leaked = fetch_superuser(conns["full"], naive)
    truth = fetch_superuser(conns["orga"], entry.sql)
    assert multiset(leaked) != multiset(truth)
    prepared = prepare(entry.sql, org_id=data.orgs["orga"], allowed_tables=CRM_TABLES, row_limit=ROW_LIMIT)
    assert multiset(fetch_superuser(conns["full"], prepared.sql)) == multiset(truth)


def test_where_predicate_injection_would_break_outer_joins(dbs):
    """Why the rewrite filters inside each join operand: a WHERE on the nullable side
    turns a LEFT JOIN inner and changes the answer; the derived-table form does not."""
    data, conns = dbs
    org = data.orgs["orga"]
    query = (
        "SELECT a.name, o.amount FROM accounts a LEFT JOIN opportunities o "
        "ON o.account_id = a.id AND o.stage = 'closed_won'"
    )
    where_form = query + f" WHERE a.org_id = '{org}' AND o.org_id = '{org}'"
    truth = multiset(fetch_superuser(conns["orga"], query))
    assert multiset(fetch_superuser(conns["full"], where_form)) != truth
    prepared = prepare(query, org_id=org, allowed_tables=CRM_TABLES, row_limit=ROW_LIMIT)
    assert multiset(fetch_superuser(conns["full"], prepared.sql)) == truth
    assert isinstance(sqlglot.parse_one(prepared.sql, read="postgres"), exp.Select)
