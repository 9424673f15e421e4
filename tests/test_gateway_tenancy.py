"""The tenancy column is the gateway's to set: agent SQL naming org_id anywhere is refused, with a
message saying the org is applied automatically (app/gateway/tenancy.py)."""
from __future__ import annotations

import uuid

import pytest

from app.errors.query import SqlRejectedError
from app.gateway import RULES, prepare
from app.gateway.context import RuleContext
from app.gateway.parse import parse_statement
from app.gateway.tenancy import refuse_tenancy_column
from app.query_settings import CRM_TABLES
from tests.gateway_corpus import load_fixture_pairs

ORG = uuid.UUID("00000000-0000-4000-8000-0000000000aa")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000bb")
CASES = [(title, given.replace("{orgb}", str(OTHER)), expected)
         for title, given, expected in load_fixture_pairs("tenancy.sql")]


def test_the_fixture_covers_both_outcomes():
    outcomes = [expected for _, _, expected in CASES]
    assert set(outcomes) == {"refused", "allowed"}
    assert outcomes.count("refused") >= 15 and outcomes.count("allowed") >= 5


@pytest.mark.parametrize("title,given,expected", CASES, ids=[c[0] for c in CASES])
def test_tenancy_fixture(title, given, expected):
    if expected == "allowed":
        prepared = prepare(given, org_id=ORG, allowed_tables=CRM_TABLES, row_limit=10)
        assert str(ORG) in prepared.sql and str(OTHER) not in prepared.sql
        return
    with pytest.raises(SqlRejectedError) as caught:
        prepare(given, org_id=ORG, allowed_tables=CRM_TABLES, row_limit=10)
    assert caught.value.code == "sql_rejected"
    assert "org_id may not be named" in caught.value.message
    assert "applied automatically" in caught.value.message


def test_the_rule_runs_before_the_org_predicate_is_injected():
    names = [rule.__name__ for rule in RULES]
    assert names.index("refuse_tenancy_column") < names.index("inject_org_predicate")


def test_the_rule_leaves_its_input_alone_and_returns_it():
    ctx = RuleContext(ORG, frozenset(CRM_TABLES), 10)
    tree = parse_statement("SELECT c.* FROM contacts c WHERE c.first_name = 'x'")
    before = tree.sql()
    assert refuse_tenancy_column(tree, ctx=ctx) is tree and tree.sql() == before


def test_an_orgs_own_datasource_may_name_an_org_id_column():
    """There the whole database is the org's: org_id is ordinary data (e.g. the org's own customers' orgs)."""
    prepared = prepare("SELECT org_id, count(*) FROM sales GROUP BY org_id", org_id=ORG,
                       allowed_tables=frozenset({"sales"}), row_limit=10, org_predicate=False)
    assert "org_id" in prepared.sql
    with pytest.raises(SqlRejectedError):
        prepare("SELECT org_id, count(*) FROM sales GROUP BY org_id", org_id=ORG,
                allowed_tables=frozenset({"sales"}), row_limit=10)
