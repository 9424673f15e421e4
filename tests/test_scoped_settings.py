"""app/db/scoped_settings.py: the one builder of SET LOCAL, attacked with hostile values and names."""
from __future__ import annotations

import uuid

import psycopg
import pytest

from app.db.scoped_settings import SETTINGS, scoped_settings, set_local, set_local_id

HOSTILE = "x'; RESET ROLE; SELECT set_config('app.org_id', 'other', false); --"


def test_a_hostile_value_is_set_verbatim_and_nothing_else_runs(fresh_db):
    with psycopg.connect(fresh_db.app_url) as conn:
        for statement in scoped_settings({"app.session_token_hash": HOSTILE, "statement_timeout": 1234}):
            conn.execute(statement)
        assert conn.execute("SELECT current_setting('app.session_token_hash'), current_setting('statement_timeout'),"
                            " current_setting('app.org_id', true)").fetchone() == (HOSTILE, "1234ms", None)
        conn.rollback()  # transaction-local: nothing survives the transaction
        assert conn.execute("SELECT current_setting('app.session_token_hash', true)").fetchone()[0] in (None, "")


@pytest.mark.parametrize("name", ["role", "app.org_id; RESET ROLE", "session_authorization", "search_path"])
def test_a_setting_outside_the_list_is_refused_before_any_sql(name):
    assert name not in SETTINGS
    with pytest.raises(ValueError, match="not a scoped setting"):
        set_local(name, "x")


def test_set_local_id_writes_exactly_what_set_local_writes_for_any_uuid():
    for value in [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), *(uuid.uuid4() for _ in range(200))]:
        for name in ("app.org_id", "app.user_id"):
            assert set_local_id(name, value) == set_local(name, str(value)).as_bytes(None)


@pytest.mark.parametrize("value", [HOSTILE, "00000000-0000-0000-0000-000000000000", None, 7])
def test_set_local_id_takes_nothing_but_a_uuid(value):
    with pytest.raises(TypeError):
        set_local_id("app.org_id", value)


def test_set_local_id_refuses_a_setting_outside_the_list():
    with pytest.raises(ValueError):
        set_local_id("role", uuid.uuid4())
