import datetime as dt

import pytest

from zhisuan.core.clock import (
    UTC,
    ManualClock,
    Month,
    parse_timestamp,
    shanghai_date,
    split_at_edges,
    split_at_month_edges,
)
from zhisuan.core.errors import ValidationError


def test_shanghai_month_starts_at_16_utc_the_day_before() -> None:
    assert Month.parse("2025-01").start == dt.datetime(2024, 12, 31, 16, tzinfo=UTC)
    assert Month.parse("2025-12").end == dt.datetime(2025, 12, 31, 16, tzinfo=UTC)


def test_an_instant_after_utc_16_belongs_to_the_next_shanghai_day() -> None:
    assert shanghai_date(dt.datetime(2025, 12, 31, 16, 0, tzinfo=UTC)) == dt.date(2026, 1, 1)
    assert shanghai_date(dt.datetime(2025, 12, 31, 15, 59, 59, tzinfo=UTC)) == dt.date(2025, 12, 31)
    assert Month.of(dt.datetime(2025, 6, 30, 16, 0, tzinfo=UTC)) == Month(2025, 7)


def test_a_run_across_shanghai_new_year_splits_at_shanghai_midnight_not_utc() -> None:
    start = parse_timestamp("2025-12-31T23:00:00+08:00")
    end = parse_timestamp("2026-01-01T01:00:00+08:00")
    pieces = split_at_month_edges(start, end)
    assert pieces == [
        (start, dt.datetime(2025, 12, 31, 16, tzinfo=UTC)),
        (dt.datetime(2025, 12, 31, 16, tzinfo=UTC), end),
    ]
    assert sum(((e - s) for s, e in pieces), dt.timedelta()) == end - start


def test_split_also_cuts_at_extra_policy_days() -> None:
    start = parse_timestamp("2025-08-10T12:00:00+08:00")
    end = parse_timestamp("2025-08-11T12:00:00+08:00")
    pieces = split_at_edges(start, end, [dt.date(2025, 8, 11)])
    assert pieces[0][1] == parse_timestamp("2025-08-11T00:00:00+08:00")


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        parse_timestamp("2025-06-01T00:00:00")


def test_month_validation() -> None:
    with pytest.raises(ValidationError, match="2025-06"):
        Month.parse("2025/06")
    with pytest.raises(ValidationError):
        Month(2025, 13)
    assert str(Month(2025, 12).next()) == "2026-01"
    assert str(Month(2025, 1).previous()) == "2024-12"


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(dt.datetime(2025, 1, 1, tzinfo=UTC))
    clock.advance(90)
    assert clock.now() == dt.datetime(2025, 1, 1, 0, 1, 30, tzinfo=UTC)
