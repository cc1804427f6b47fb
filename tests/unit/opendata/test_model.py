"""The open-data values: fields checked one by one, who manages what, grants and quarters, and the
bulletin's counts and ranking (hypothesis: the counts equal a plain recount, the ranks are 1..n)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhisuan.core.access import Principal, Role
from zhisuan.core.errors import ValidationError
from zhisuan.core.ids import OrgId
from zhisuan.opendata.model import (
    DatasetFields,
    OpenedFact,
    Openness,
    Quarter,
    RequestFact,
    RequestState,
    bulletin_lines,
    may_manage,
    request_state,
)

GOOD = {
    "title": "合肥市公共交通线路数据",
    "description": "全市公交线路",
    "themes": "交通运输、transport",
    "openness": "有条件开放",
    "conditions": "协议",
    "formats": "csv, json",
    "update_frequency": "每月",
    "contact_name": "王工",
    "contact_email": "a@b.cn",
}


def test_fields_accept_chinese_labels_and_codes_alike() -> None:
    f = DatasetFields.check(GOOD)
    assert f.openness is Openness.CONDITIONAL
    assert f.themes == ("transport",) and f.formats == ("CSV", "JSON") and f.update_frequency == "monthly"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"conditions": ""}, "conditions"),
        ({"formats": "DOCX"}, "formats"),
        ({"themes": "天气"}, "themes"),
        ({"contact_email": "nobody"}, "contact_email"),
        ({"records": "-1"}, "records"),
        ({"title": "坏\u202e名"}, "title"),
    ],
)
def test_a_bad_field_is_named(change: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        DatasetFields.check({**GOOD, **change})
    assert err.value.field == field


def test_publishers_manage_their_own_entries_and_the_bureau_all() -> None:
    city = Principal(None, "hf", Role.CITY, city_code="340100")
    dept = Principal(None, "da", Role.USER, org_id=OrgId(7))
    bureau = Principal(None, "b", Role.DATA_BUREAU)
    province = Principal(None, "p", Role.PROVINCE)
    assert may_manage(city, "city:340100") and not may_manage(city, "org:7")
    assert may_manage(dept, "org:7") and not may_manage(dept, "city:340100")
    assert may_manage(bureau, "org:7") and may_manage(bureau, "city:340200")
    assert not may_manage(province, "city:340100")


def test_a_grant_lasts_through_its_last_day() -> None:
    last = dt.date(2025, 6, 30)
    assert request_state("granted", last, last) is RequestState.GRANTED
    assert request_state("granted", last, last + dt.timedelta(days=1)) is RequestState.EXPIRED
    assert request_state("refused", None, last) is RequestState.REFUSED


@given(st.integers(2000, 2100), st.integers(1, 4))
def test_quarters_tile_the_year(year: int, n: int) -> None:
    q = Quarter(year, n)
    assert Quarter.parse(str(q)) == q and Quarter.of(q.start) == q
    assert Quarter.of(q.end - dt.timedelta(days=1)) == q and not q.holds(q.end)
    assert q.previous().end == q.start


KEYS = ["city:340100", "city:340200", "org:3"]
days = st.dates(dt.date(2025, 1, 1), dt.date(2025, 12, 31))


@given(
    st.lists(st.tuples(st.sampled_from(KEYS), st.none() | days), max_size=30),
    st.lists(
        st.tuples(
            st.sampled_from(KEYS), days, st.none() | st.integers(0, 60), st.booleans(), st.floats(0, 500)
        ),
        max_size=30,
    ),
    st.integers(1, 4),
)
def test_bulletin_counts_equal_a_recount_and_ranks_are_a_permutation(
    opened: list[tuple[str, dt.date | None]],
    requests: list[tuple[str, dt.date, int | None, bool, float]],
    n: int,
) -> None:
    q = Quarter(2025, n)
    facts = [OpenedFact(k, d) for k, d in opened]
    reqs = [
        RequestFact(
            k, d, None if late is None else d + dt.timedelta(days=late), refused, None if late is None else h
        )
        for k, d, late, refused, h in requests
    ]
    lines = bulletin_lines(q, dict.fromkeys(KEYS, "x"), facts, reqs)
    assert sorted(x.rank for x in lines) == list(range(1, len(KEYS) + 1))
    for line in lines:
        k = line.publisher_key
        assert line.opened == sum(
            1 for key, d in opened if key == k and d is not None and q.start <= d < q.end
        )
        assert line.received == sum(
            1 for r in reqs if r.publisher_key == k and q.start <= r.requested_on < q.end
        )
        answered = [
            r for r in reqs if r.publisher_key == k and r.answered_on and q.start <= r.answered_on < q.end
        ]
        assert line.answered == len(answered) and line.refused == sum(r.refused for r in answered)
    ordered = sorted(lines, key=lambda x: x.rank)
    assert all(a.opened >= b.opened for a, b in itertools.pairwise(ordered))
