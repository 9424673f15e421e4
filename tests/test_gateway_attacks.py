"""The adversarial corpus: every attack is refused or sees only the org's rows, under each lock alone.

Lock 1 alone: the gateway's SQL runs as the superuser (RLS bypassed) on the
database of all orgs. Lock 2 alone: the attack's original text runs as the
agent role with app.org_id set (RLS on, no gateway), through the extended
protocol. In both, a result must hold no other org's ids or texts and, where it
reads tenant data, equal the result on the database holding only that org.
"""
from __future__ import annotations

import psycopg
import pytest

from app.errors.query import SqlInvalidError, SqlRejectedError
from app.gateway import prepare
from app.query_settings import CRM_TABLES
from tests.gateway_corpus import Entry, load_corpus
from tests.gateway_corpus.compare import fetch_as_agent, fetch_superuser, multiset, texts
from tests.gateway_corpus.seed import SIZES, seeded

ATTACKS = load_corpus("attacks.sql")
ORG = "orga"
TIMEOUT_MS = 700  # resource-exhaustion attacks must fail fast, not slow the suite


@pytest.fixture(scope="module")
def data(db_factory):
    return seeded(db_factory, solo_for=(ORG,))


@pytest.fixture(scope="module")
def conns(data):
    full = psycopg.connect(data.full.admin_url, autocommit=True)
    solo = psycopg.connect(data.solo[ORG].admin_url, autocommit=True)
    yield full, solo
    full.close()
    solo.close()


def _text(entry: Entry, data) -> str:
    text = entry.sql
    for slug, org in data.orgs.items():
        text = text.replace("{" + slug + "}", str(org))
    return text


def _outcome(run) -> list[tuple] | Exception:
    try:
        return run()
    except psycopg.Error as exc:
        return exc


def _assert_no_foreign_rows(rows: list[tuple], data) -> None:
    seen = texts(rows)
    leaked = [m for m in data.foreign_markers(ORG) if m in seen]
    assert not leaked, f"another org's data in the result: {leaked[:3]}"


def test_the_attack_corpus_is_large_enough():
    assert len(ATTACKS) >= 100
    assert all(set(e.expect) & {"refused", "allowed"} for e in ATTACKS)


@pytest.mark.parametrize("entry", ATTACKS, ids=[e.name for e in ATTACKS])
def test_attack_under_the_gateway_alone(entry, data, conns):
    full, solo = conns
    text = _text(entry, data)
    try:
        prepared = prepare(text, org_id=data.orgs[ORG], allowed_tables=CRM_TABLES, row_limit=1000)
    except (SqlRejectedError, SqlInvalidError) as refusal:
        assert "refused" in entry.expect, f"an honest-looking attack was refused: {refusal.message}"
        assert refusal.message
        return
    assert "allowed" in entry.expect, f"the gateway let through: {prepared.sql}"
    got = _outcome(lambda: fetch_superuser(full, prepared.sql, timeout_ms=TIMEOUT_MS))
    if isinstance(got, Exception):
        return  # failing is an acceptable outcome (a timeout, an unknown column)
    _assert_no_foreign_rows(got, data)
    want = _outcome(lambda: fetch_superuser(solo, text, timeout_ms=TIMEOUT_MS))
    if not isinstance(want, Exception):
        assert multiset(got) == multiset(want)


@pytest.mark.parametrize("entry", ATTACKS, ids=[e.name for e in ATTACKS])
def test_attack_under_rls_alone(entry, data):
    text = _text(entry, data)
    if not text.strip() or text.strip().startswith("--"):
        pytest.skip("no statement to send")
    org = data.orgs[ORG]
    got = _outcome(lambda: fetch_as_agent(data.full.agent_url, text, org_id=org, timeout_ms=TIMEOUT_MS))
    if isinstance(got, Exception):
        return
    _assert_no_foreign_rows(got, data)
    if "catalog" in entry.expect:
        return  # catalogs differ between the two databases; no tenant rows in them (checked above)
    want = _outcome(lambda: fetch_as_agent(data.solo[ORG].agent_url, text, org_id=org, timeout_ms=TIMEOUT_MS))
    if not isinstance(want, Exception):
        assert multiset(got) == multiset(want)


def test_attacks_leave_the_data_unchanged(data, conns):
    """Runs last in this module: nothing the attacks did wrote anything."""
    full, _ = conns
    counts = fetch_superuser(full, "SELECT (SELECT count(*) FROM contacts), (SELECT count(*) FROM notes), "
                                   "(SELECT count(*) FROM organizations)")
    assert counts[0][0] == sum(s[1] for s in SIZES.values())
    assert counts[0][1] == sum(s[5] for s in SIZES.values())
    assert counts[0][2] == 3
