"""Voucher lines' steps and reasons are encoded item by item, each shared item once: the text must be
exactly what ``json.dumps`` gives for the whole list."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from zhisuan.metering.settlement import _ListEncoder

_ITEMS = st.one_of(
    st.text(),
    st.dictionaries(st.text(max_size=8), st.one_of(st.text(), st.integers(), st.booleans()), max_size=6),
)


@given(
    st.lists(st.lists(st.integers(0, 9), max_size=8), max_size=20), st.lists(_ITEMS, min_size=10, max_size=10)
)
def test_encoding_shared_items_once_gives_json_dumps_text(picks: list[list[int]], pool: list[object]) -> None:
    encode = _ListEncoder()
    for pick in picks:
        items = [pool[i] for i in pick]  # the same objects again and again, as a case's steps are
        assert encode(items) == json.dumps(items, ensure_ascii=False)


def test_an_equal_but_new_object_is_encoded_as_itself() -> None:
    encode = _ListEncoder()
    step = {"rule": "budget", "result": "granted 1.00"}
    assert encode([step, step]) == json.dumps([step, step], ensure_ascii=False)
    other = {"rule": "budget", "result": "granted 2.00"}
    assert encode([other]) == json.dumps([other], ensure_ascii=False)
