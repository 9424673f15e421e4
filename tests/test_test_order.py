"""The order the suite hands files to its workers (tests/support/order.py): the longest files first."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.order import LONGEST, longest_first

TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("name", LONGEST)
def test_every_file_named_longest_is_a_test_file(name: str) -> None:
    assert (TESTS / name).is_file(), f"tests/support/order.py names {name}, which is gone: remove or rename it there"


def test_the_longest_files_come_first_whole_and_the_rest_by_number_of_tests() -> None:
    class Item:
        def __init__(self, nodeid: str) -> None:
            self.nodeid = nodeid

    names = ["tests/test_a.py::x", f"tests/{LONGEST[1]}::p", "tests/test_b.py::y", "tests/test_b.py::z",
             f"tests/{LONGEST[0]}::q", f"tests/{LONGEST[1]}::r"]
    items = [Item(n) for n in names]
    longest_first(items)  # type: ignore[arg-type]
    assert [i.nodeid for i in items] == [f"tests/{LONGEST[0]}::q", f"tests/{LONGEST[1]}::p", f"tests/{LONGEST[1]}::r",
                                         "tests/test_b.py::y", "tests/test_b.py::z", "tests/test_a.py::x"]


def test_collection_is_in_that_order(request: pytest.FixtureRequest) -> None:
    """This session's own items are ordered so (what xdist hands out with --no-loadscope-reorder)."""
    seen: list[str] = []
    for item in request.session.items:
        path = item.nodeid.split("::", 1)[0]
        if not seen or seen[-1] != path:
            assert path not in seen, f"{path} is split in the collection order"
            seen.append(path)
    ranks = [LONGEST.index(p.rsplit("/", 1)[-1]) for p in seen if p.rsplit("/", 1)[-1] in LONGEST]
    assert ranks == sorted(ranks)
