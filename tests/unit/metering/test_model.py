import datetime as dt
import itertools
from fractions import Fraction

import hypothesis.strategies as st
import pytest
from hypothesis import given

from zhisuan.core.clock import SHANGHAI, UTC, Month
from zhisuan.core.errors import ConflictError, NotFoundError, ValidationError
from zhisuan.metering.bill_lines import BillState, bill_lines, check_transition, line_amount_fen, vat_fen
from zhisuan.metering.model import (
    Band,
    Discount,
    ObservedRun,
    PoolRate,
    RateCard,
    RawUsage,
    Tolerance,
    UsageBook,
    UsageKind,
    reconcile,
    split_usage,
)

CARD = RateCard([PoolRate.flat(3, dt.date(2023, 1, 1), 1000)])


def raw(start, hours=1.0, cards=1, job="j1", pool=3, org=1):
    return RawUsage(
        "sim", job, org, 2, pool, "a100-sxm4-80gb", cards, start, start + dt.timedelta(hours=hours)
    )


def test_usage_splits_at_shanghai_midnight_not_utc_midnight():
    start = dt.datetime(2025, 6, 30, 23, 0, tzinfo=SHANGHAI)
    pieces = split_usage(raw(start, hours=2), CARD)
    assert [p.month for p in pieces] == [Month(2025, 6), Month(2025, 7)]
    assert pieces[0].end == dt.datetime(2025, 7, 1, tzinfo=SHANGHAI)
    # UTC midnight (08:00 Shanghai) inside a month does not split
    assert len(split_usage(raw(dt.datetime(2025, 6, 10, 23, tzinfo=UTC), hours=3), CARD)) == 1


def test_usage_splits_at_policy_validity_edge_and_marks_policy_period():
    start = dt.datetime(2023, 11, 7, 20, tzinfo=SHANGHAI)
    pieces = split_usage(raw(start, hours=8), CARD, policy_edges=[dt.date(2023, 11, 8)])
    assert [p.policy_date for p in pieces] == [dt.date(2023, 11, 1), dt.date(2023, 11, 8)]


def test_time_bands_and_rate_versions_price_each_piece():
    card = RateCard(
        [
            PoolRate(
                3,
                dt.date(2025, 1, 1),
                (Band(dt.time(0), dt.time(8), 500, "night"), Band(dt.time(8), dt.time(0), 1000, "day")),
            ),
            PoolRate.flat(3, dt.date(2025, 6, 2), 2000),
        ],
        [Discount(1, None, dt.date(2025, 1, 1), 1000)],
    )
    start = dt.datetime(2025, 6, 1, 6, tzinfo=SHANGHAI)
    pieces = split_usage(raw(start, hours=20), card)
    assert [(p.start.astimezone(SHANGHAI).hour, p.price_fen_per_card_hour) for p in pieces] == [
        (6, 500),
        (8, 1000),
        (0, 2000),
    ]
    assert all(p.discount_bp == 1000 for p in pieces)
    assert sum(p.seconds for p in pieces) == 20 * 3600


def test_missing_price_is_a_clear_error():
    with pytest.raises(NotFoundError, match="no price for pool 9"):
        split_usage(raw(dt.datetime(2025, 6, 1, tzinfo=UTC), pool=9), CARD)


def test_bands_must_cover_the_day():
    with pytest.raises(ValidationError, match="cover the day"):
        PoolRate(3, dt.date(2025, 1, 1), (Band(dt.time(0), dt.time(8), 1),))


@given(
    start=st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2026, 1, 1)),
    seconds=st.integers(1, 90 * 86400),
)
def test_splitting_keeps_every_second_once(start, seconds):
    start = start.replace(microsecond=0, tzinfo=UTC)
    pieces = split_usage(raw(start, hours=seconds / 3600), CARD)
    assert pieces[0].start == start
    assert pieces[-1].end == start + dt.timedelta(seconds=seconds)
    for a, b in itertools.pairwise(pieces):
        assert a.end == b.start
        assert a.month <= b.month
    assert sum(p.card_seconds for p in pieces) == seconds


def test_reporting_the_same_usage_twice_changes_nothing():
    book = UsageBook()
    recs = split_usage(raw(dt.datetime(2025, 6, 1, tzinfo=UTC), hours=3), CARD)
    assert [book.add(r) for r in recs] == [True]
    assert [book.add(r) for r in split_usage(raw(dt.datetime(2025, 6, 1, tzinfo=UTC), hours=3), CARD)] == [
        False
    ]
    assert book.card_seconds() == 3 * 3600


def test_overlapping_usage_of_one_job_is_refused():
    book = UsageBook()
    book.add(split_usage(raw(dt.datetime(2025, 6, 1, tzinfo=UTC), hours=3), CARD)[0])
    with pytest.raises(ConflictError, match="overlaps"):
        book.add(split_usage(raw(dt.datetime(2025, 6, 1, 2, tzinfo=UTC), hours=3), CARD)[0])


def test_correction_reverses_and_replaces():
    book = UsageBook()
    [orig] = split_usage(raw(dt.datetime(2025, 6, 1, tzinfo=UTC), hours=3, cards=8), CARD)
    book.add(orig)
    [fixed] = split_usage(raw(dt.datetime(2025, 6, 1, tzinfo=UTC), hours=3, cards=4), CARD)
    added = book.correct(orig.key, [fixed])
    assert [r.kind for r in added] == [UsageKind.REVERSAL, UsageKind.USAGE]
    assert added[1].key.endswith("/r1")
    assert book.card_seconds() == 4 * 3 * 3600
    assert orig.key in book.records  # never edited in place
    with pytest.raises(ConflictError, match="already corrected"):
        book.correct(orig.key, [])


def test_bill_lines_round_once_per_line_and_mark_adjustments():
    june = Month(2025, 6)
    recs = []
    for i in range(3):  # three 20-minute pieces at 1 fen/card-hour: a third of a fen each
        s = dt.datetime(2025, 6, 2, i, tzinfo=UTC)
        recs += split_usage(
            RawUsage("sim", f"j{i}", 1, 2, 3, "x", 1, s, s + dt.timedelta(minutes=20)),
            RateCard([PoolRate.flat(3, dt.date(2024, 1, 1), 1)]),
        )
    may = split_usage(raw(dt.datetime(2025, 5, 5, tzinfo=UTC), job="late"), CARD)
    lines = bill_lines(recs + may, june)
    assert [(ln.key.adjustment, ln.gross_fen) for ln in lines] == [(False, 1), (True, 1000)]
    with pytest.raises(ValidationError):
        bill_lines(recs, Month(2025, 5))


def test_vat_inside_tax_inclusive_amounts():
    assert vat_fen(10600) == 600
    assert vat_fen(-10600) == -600
    assert vat_fen(4_999_999_999) == 283_018_868  # 49,999,999.99 × 6/106 = 2,830,188.678…
    assert vat_fen(100, Fraction(0)) == 0


def test_large_amounts_are_exact():
    # 49,999,999.99 yuan: 4,999,999,999 card-seconds at 1 yuan per card-hour … exactly representable
    assert line_amount_fen(4_999_999_999 * 36, 100, 0) == 4_999_999_999


def test_bill_states():
    check_transition(BillState.DRAFT, BillState.ISSUED)
    check_transition(BillState.ISSUED, BillState.PAID)
    check_transition(BillState.ISSUED, BillState.VOID)
    with pytest.raises(ConflictError):
        check_transition(BillState.PAID, BillState.VOID)
    with pytest.raises(ConflictError):
        check_transition(BillState.DRAFT, BillState.PAID)


def test_reconciliation_flags_differences_beyond_tolerance():
    s = dt.datetime(2025, 6, 1, tzinfo=UTC)
    reported = split_usage(raw(s, hours=2, job="a"), CARD) + split_usage(raw(s, hours=1, job="b"), CARD)
    observed = [
        ObservedRun("sim", "a", 2, 3, 1, s, s + dt.timedelta(hours=2, seconds=30)),
        ObservedRun("sim", "b", 2, 3, 1, s, s + dt.timedelta(hours=2)),
        ObservedRun("sim", "c", 2, 3, 1, s, s + dt.timedelta(hours=1)),
    ]
    found = reconcile(observed, reported, Tolerance(60, Fraction(0)))
    assert [(d.engine_job_id, d.difference) for d in found] == [("b", -3600), ("c", -3600)]


def _exact_fen(value: Fraction) -> int:
    """The exact computation pricing used before integers: Money from a Fraction, half-up to the fen."""
    from zhisuan.core.money import Money, Rounding

    return Money(value / 100).to_fen(Rounding.HALF_UP)


@given(
    st.integers(min_value=-(10**15), max_value=10**15),
    st.integers(min_value=0, max_value=10**7),
    st.integers(min_value=0, max_value=10_000),
    st.fractions(min_value=0, max_value=1, max_denominator=10**6),
)
def test_integer_pricing_equals_the_exact_fraction_computation(card_seconds, price, discount, rate):
    sign = -1 if card_seconds < 0 else 1
    line = sign * _exact_fen(Fraction(abs(card_seconds) * price * (10_000 - discount), 3600 * 10_000))
    assert line_amount_fen(card_seconds, price, discount) == line
    sign = -1 if line < 0 else 1
    assert vat_fen(line, rate) == sign * _exact_fen(Fraction(abs(line)) * rate / (1 + rate))
