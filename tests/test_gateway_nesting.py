"""Property-based: however deeply agent SQL nests, the gateway answers a refusal, never a RecursionError.

Generated queries wrap an expression in a random stack of the constructs that
recurse in sqlglot's parser, its generator, our rules or pglast (parentheses,
calls, CASE, NOT, subqueries, brackets, operator and UNION chains), from a few
levels to thousands, and prepare them below an already deep Python stack. Each
either passes or is refused with the limits named (app/gateway/parse.py).
"""
from __future__ import annotations

import uuid
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors.query import SqlInvalidError, SqlRejectedError
from app.gateway import prepare
from app.gateway.parse import MAX_NESTING, MAX_TREE_DEPTH

ORG = uuid.UUID("00000000-0000-4000-8000-000000000001")
WRAPPERS = (
    "({})", "coalesce({}, 1)", "CASE WHEN true THEN {} ELSE 0 END", "NOT ({})", "(SELECT {})",
    "ARRAY[{}]", "{} + 1", "- {}", "{}::int", "abs({})", "(SELECT {} FROM contacts LIMIT 1)",
)
CHAINS = ("{} OR true", "{} || 'a'", "{}->'a'", "{} * 2")


def _burn(frames: int, then: Callable[[], object]) -> object:
    """Run `then` below `frames` extra Python frames: deeper than any request handler's stack."""
    return _burn(frames - 1, then) if frames else then()


@st.composite
def nested_sql(draw: st.DrawFn) -> str:
    expression = "1"
    for wrapper in draw(st.lists(st.sampled_from(WRAPPERS), max_size=3 * MAX_NESTING)):
        expression = wrapper.format(expression)
    chain = draw(st.sampled_from(CHAINS))
    for _ in range(draw(st.sampled_from([0, 10, MAX_TREE_DEPTH - 20, MAX_TREE_DEPTH, 3_000]))):
        expression = chain.format(expression)
    select = f"SELECT {expression} AS v FROM contacts"
    arms = draw(st.sampled_from([1, 2, MAX_TREE_DEPTH // 2, MAX_TREE_DEPTH + 1, 1_000]))
    return " UNION ALL ".join([select] * arms)


@settings(max_examples=50, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(sql_text=nested_sql())
def test_nested_sql_is_prepared_or_refused_naming_the_limit(sql_text: str) -> None:
    def attempt() -> object:
        return prepare(sql_text, org_id=ORG, allowed_tables={"contacts"}, row_limit=10)

    try:
        _burn(100, attempt)
    except (SqlRejectedError, SqlInvalidError) as exc:
        if "nests too deeply" in exc.message:
            assert f"at most {MAX_NESTING} levels" in exc.message
