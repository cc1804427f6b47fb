"""The import's fast pricing gives exactly the records the model gives, or hands the row to the model."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from zhisuan.core.clock import UTC
from zhisuan.metering._pricer import Pricer, References
from zhisuan.metering.model import Band, Discount, PoolRate, RateCard, RawUsage, split_usage
from zhisuan.metering.usage import record_row

BANDED = PoolRate(
    3,
    dt.date(1970, 1, 1),
    (Band(dt.time(0), dt.time(8), 800, "night"), Band(dt.time(8), dt.time(0), 1250, "day")),
)
CARD = RateCard(
    [
        PoolRate.flat(1, dt.date(1970, 1, 1), 1000),
        PoolRate.flat(1, dt.date(2025, 7, 15), 1100),
        PoolRate.flat(2, dt.date(1970, 1, 1), 2037),
        BANDED,
    ],
    [Discount(7, None, dt.date(2025, 6, 20), 1500), Discount(7, 2, dt.date(2025, 8, 1), 250)],
)
EDGES = [dt.date(2023, 11, 8), dt.date(2025, 8, 11), dt.date(2026, 1, 1)]
REFS = References({7, 8}, {1: (10, "a100", 64), 2: (10, "a100", 64), 3: (11, "h100", 64)})
POOL_OF = {1: (10, "a100"), 2: (10, "a100"), 3: (11, "h100")}
PRICER = Pricer(CARD, EDGES, REFS)


def _values(org: int, pool: int, cards: int, start: dt.datetime, end: dt.datetime) -> tuple[str, ...]:
    center, acc = POOL_OF[pool]
    return (
        "sim",
        "job-1",
        str(org),
        str(center),
        str(pool),
        acc,
        str(cards),
        start.isoformat(),
        end.isoformat(),
        "",
    )


def _model(org: int, pool: int, cards: int, start: dt.datetime, end: dt.datetime) -> list[tuple[object, ...]]:
    center, acc = POOL_OF[pool]
    raw = RawUsage("sim", "job-1", org, center, pool, acc, cards, start, end)
    return [record_row(p) for p in split_usage(raw, CARD, EDGES)]


@settings(max_examples=300, deadline=None)
@given(
    org=st.sampled_from([7, 8]),
    pool=st.sampled_from([1, 2, 3]),
    cards=st.integers(1, 64),
    start=st.integers(
        int(dt.datetime(2025, 5, 25, tzinfo=UTC).timestamp()),
        int(dt.datetime(2025, 9, 5, tzinfo=UTC).timestamp()),
    ),
    seconds=st.integers(1, 9 * 86400),
    offset_h=st.sampled_from([0, 8, -5]),
)
def test_fast_rows_equal_the_models_records(org, pool, cards, start, seconds, offset_h):
    zone = dt.timezone(dt.timedelta(hours=offset_h))
    a = dt.datetime.fromtimestamp(start, zone)
    b = dt.datetime.fromtimestamp(start + seconds, zone)
    fast = PRICER.row(_values(org, pool, cards, a, b))
    if fast is not None:
        model = _model(org, pool, cards, a, b)
        assert [r[:8] + r[10:] for r in fast] == [r[:8] + r[10:] for r in model]
        assert [(r[8], r[9]) for r in fast] == [(r[8], r[9]) for r in model]


def test_a_simple_row_is_priced_without_the_model():
    a = dt.datetime(2025, 6, 10, 8, tzinfo=UTC)
    fast = PRICER.row(_values(7, 1, 8, a, a + dt.timedelta(hours=2)))
    assert fast == _model(7, 1, 8, a, a + dt.timedelta(hours=2))
    assert fast is not None and fast[0][12] == 0


def test_rows_that_split_or_fail_go_to_the_model():
    pricer = PRICER
    june_end = dt.datetime(2025, 6, 30, 15, tzinfo=UTC)  # 23:00 in Shanghai
    assert pricer.row(_values(7, 1, 1, june_end, june_end + dt.timedelta(hours=2))) is None  # month edge
    handover = dt.datetime(2025, 8, 10, 15, tzinfo=UTC)
    assert pricer.row(_values(8, 1, 1, handover, handover + dt.timedelta(hours=2))) is None  # policy edge
    day = dt.datetime(2025, 6, 10, 8, tzinfo=UTC)
    assert pricer.row(_values(7, 3, 1, day, day + dt.timedelta(hours=1))) is None  # banded pool
    assert pricer.row(_values(9, 1, 1, day, day + dt.timedelta(hours=1))) is None  # unknown org
    naive = ("sim", "j", "7", "10", "1", "a100", "1", "2025-06-10T08:00:00", "2025-06-10T09:00:00", "")
    assert pricer.row(naive) is None
    spaced = (
        "sim",
        "j 1",
        "7",
        "10",
        "1",
        "a100",
        "1",
        day.isoformat(),
        (day + dt.timedelta(hours=1)).isoformat(),
        "",
    )
    assert pricer.row(spaced) is None
