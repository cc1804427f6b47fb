"""Time: aware UTC inside; policy dates, billing months and period edges in Asia/Shanghai.

Periods are half-open ``[start, end)``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from zhisuan.core.errors import ValidationError

UTC = dt.UTC
SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    """Where the current time comes from (injected, never read from the system in the core)."""

    def now(self) -> dt.datetime: ...


class SystemClock:
    """The wall clock, in aware UTC."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to (tests, simulations)."""

    def __init__(self, start: dt.datetime) -> None:
        self._now = ensure_aware(start)

    def now(self) -> dt.datetime:
        return self._now

    def set(self, when: dt.datetime) -> None:
        self._now = ensure_aware(when)

    def advance(self, seconds: float) -> None:
        self._now += dt.timedelta(seconds=seconds)


def ensure_aware(when: dt.datetime, field: str | None = None) -> dt.datetime:
    """Return ``when`` in UTC; refuse naive datetimes (their zone is unknowable)."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValidationError("timestamp has no time zone; give an offset such as +08:00 or Z", field=field)
    return when.astimezone(UTC)


def parse_timestamp(text: str, field: str | None = None) -> dt.datetime:
    """Parse an ISO-8601 timestamp with an offset into aware UTC."""
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"not an ISO timestamp: {text!r}", field=field) from None
    return ensure_aware(when, field)


def parse_date(text: str, field: str | None = None) -> dt.date:
    """Parse an ISO calendar date (YYYY-MM-DD)."""
    try:
        return dt.date.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise ValidationError(f"not an ISO date (YYYY-MM-DD): {text!r}", field=field) from None


def shanghai_date(when: dt.datetime) -> dt.date:
    """The Asia/Shanghai calendar day that an instant falls on."""
    return ensure_aware(when).astimezone(SHANGHAI).date()


def day_start(day: dt.date) -> dt.datetime:
    """The UTC instant at which a Shanghai calendar day starts."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=SHANGHAI).astimezone(UTC)


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, order=True, slots=True)
class Month:
    """A billing month on the Asia/Shanghai calendar.

    >>> Month.parse("2025-06").start.isoformat()
    '2025-05-31T16:00:00+00:00'
    >>> str(Month(2025, 12).next())
    '2026-01'
    """

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1 <= self.year <= 9999:
            raise ValidationError(f"no such month: {self.year}-{self.month:02d}", field="month")

    @classmethod
    def parse(cls, text: str, field: str = "month") -> Month:
        m = _MONTH.match(text.strip())
        if not m:
            raise ValidationError(f"month must look like 2025-06, got {text!r}", field=field)
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, when: dt.datetime) -> Month:
        """The Shanghai month an instant falls in."""
        day = shanghai_date(when)
        return cls(day.year, day.month)

    @classmethod
    def of_date(cls, day: dt.date) -> Month:
        return cls(day.year, day.month)

    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    def previous(self) -> Month:
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def last_day(self) -> dt.date:
        return self.next().first_day - dt.timedelta(days=1)

    @property
    def start(self) -> dt.datetime:
        """UTC instant of Shanghai midnight starting the month."""
        return day_start(self.first_day)

    @property
    def end(self) -> dt.datetime:
        """UTC instant of Shanghai midnight ending the month (exclusive)."""
        return self.next().start

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def split_at_month_edges(start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """Split ``[start, end)`` at every Shanghai month edge inside it.

    >>> a = parse_timestamp("2025-06-30T15:00:00Z")  # 23:00 in Shanghai
    >>> [e.isoformat() for _, e in split_at_month_edges(a, a + dt.timedelta(hours=2))]
    ['2025-06-30T16:00:00+00:00', '2025-06-30T17:00:00+00:00']
    """
    return split_at_edges(start, end, ())


def split_at_edges(
    start: dt.datetime, end: dt.datetime, extra_days: tuple[dt.date, ...] | list[dt.date]
) -> list[tuple[dt.datetime, dt.datetime]]:
    """Split ``[start, end)`` at Shanghai month edges and at the start of each of ``extra_days``."""
    start, end = ensure_aware(start), ensure_aware(end)
    if end < start:
        raise ValidationError("a period cannot end before it starts", field="end")
    if end == start:
        return [(start, end)]
    cuts = {day_start(d) for d in extra_days}
    month = Month.of(start)
    while month.end < end:
        cuts.add(month.end)
        month = month.next()
    edges = sorted(c for c in cuts if start < c < end)
    pieces: list[tuple[dt.datetime, dt.datetime]] = []
    cursor = start
    for cut in edges:
        pieces.append((cursor, cut))
        cursor = cut
    pieces.append((cursor, end))
    return pieces
