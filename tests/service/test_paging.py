"""The cursor codec and the page walker (``service/paging.py``), without a database: a cursor
round-trips only on the list and filters that gave it out, and walking stops at the last page."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearance.errors import InputError
from clearance.service import paging

NAMES = st.text(min_size=1, max_size=200).filter(lambda s: "\x00" not in s)
FILTERS = st.dictionaries(st.sampled_from(["team", "risk_tier"]), st.none() | st.text(max_size=20))


@given(name=NAMES, filters=FILTERS)
def test_a_name_cursor_round_trips(name: str, filters: dict[str, str]) -> None:
    cursor = paging.encode("models", filters, name)
    assert len(cursor) <= paging.MAX_CURSOR  # any name the store holds, in any script
    assert paging.decode(cursor, "models", filters, str) == name


@given(key=st.integers(1, paging.MAX_KEY), model=st.none() | NAMES)
def test_an_id_cursor_round_trips(key: int, model: str | None) -> None:
    filters = {"model": model, "status": "open"}
    assert paging.decode(paging.encode("requests", filters, key), "requests", filters, int) == key


@given(junk=st.text(max_size=600))
def test_any_other_text_is_bad_input_naming_the_cursor(junk: str) -> None:
    real = paging.encode("requests", {}, 5)
    if junk == real:
        return
    with pytest.raises(InputError, match=r"^cursor: "):
        paging.decode(junk, "requests", {}, int)


def test_no_cursor_is_the_first_page_and_limits_are_checked() -> None:
    widest = "\U0001d518" * 200  # the longest name a column holds, four bytes a character
    assert paging.decode(paging.encode("models", {}, widest), "models", {}, str) == widest
    assert paging.decode(None, "versions", {}, int) is None
    paging.check_page(paging.MAX_PAGE, paging.MAX_OFFSET)
    with pytest.raises(InputError, match="limit"):
        paging.check_page(0, 0)
    with pytest.raises(InputError, match="offset"):
        paging.check_page(1, paging.MAX_OFFSET + 1)


@dataclass
class Page:
    items: list[int]
    next: str | None


def test_walking_follows_next_and_stops_at_the_last_page() -> None:
    pages = {None: Page([1, 2], "a"), "a": Page([3, 4], "b"), "b": Page([5], None)}
    asked: list[str | None] = []

    def fetch(cursor: str | None) -> Page:
        asked.append(cursor)
        return pages[cursor]

    assert paging.every(fetch) == [1, 2, 3, 4, 5]
    assert asked == [None, "a", "b"]
    # a page that is empty yet names a next one (rows removed meanwhile) ends the walk too
    assert paging.every(lambda c: Page([], "again")) == []
