"""Metering: usage records, the rate card, splitting, corrections, reconciliation and monthly bills.

All pure: values and functions, no database. Money inside is exact (``Fraction`` of fen) until a
bill line is rounded once; storage is integer fen.

A usage record is one job on one pool over one half-open interval ``[start, end)``, whole seconds,
aware UTC. Its natural idempotency key is ``engine/job/pool/interval`` (plus the correction revision),
so reporting or importing the same usage twice changes nothing. Records are split at Asia/Shanghai
month edges, at policy validity edges, at rate-card version edges and at time-band edges, so each
piece has one price and belongs to one billing month and one policy period.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from fractions import Fraction

from zhisuan.core.clock import SHANGHAI, UTC, Month, day_start, ensure_aware, shanghai_date, split_at_edges
from zhisuan.core.errors import ConflictError, NotFoundError, ValidationError
from zhisuan.core.money import Money

SECONDS_PER_HOUR = 3600
BP = 10_000  # basis points in one
DEFAULT_VAT_RATE = Fraction(6, 100)  # VAT on compute (modern services) in China: 6%


def half_up(num: int, den: int) -> int:
    """num / den rounded half away from zero, in integers (den > 0)."""
    if num >= 0:
        return (2 * num + den) // (2 * den)
    return -((-2 * num + den) // (2 * den))


def _stamp(when: dt.datetime) -> str:
    w = when.astimezone(UTC)
    return f"{w.year:04d}{w.month:02d}{w.day:02d}T{w.hour:02d}{w.minute:02d}{w.second:02d}Z"


class UsageKind(StrEnum):
    USAGE = "usage"
    REVERSAL = "reversal"


@dataclass(frozen=True, slots=True)
class RawUsage:
    """Usage as an engine reports it, before splitting and pricing."""

    engine: str
    engine_job_id: str
    org_id: int
    center_id: int
    pool_id: int
    accelerator: str
    cards: int
    start: dt.datetime
    end: dt.datetime

    def __post_init__(self) -> None:
        check_identity(self.engine, self.engine_job_id)
        _check_interval(self.cards, self.start, self.end)


_SPACE = re.compile(r"\s")
_day_start = functools.lru_cache(maxsize=4096)(day_start)  # the same few edge days, again and again


def check_identity(engine: str, job: str) -> None:
    """An engine name has no spaces or '/'; a job id is not empty and has no spaces."""
    if not engine or "/" in engine or _SPACE.search(engine):
        raise ValidationError(f"engine must be a name without spaces or '/', got {engine!r}", field="engine")
    if not job or _SPACE.search(job):
        raise ValidationError(
            f"engine job id must be non-empty without spaces, got {job!r}", field="engine_job_id"
        )


def _check_interval(cards: int, start: dt.datetime, end: dt.datetime) -> None:
    if isinstance(cards, bool) or not isinstance(cards, int) or cards <= 0:
        raise ValidationError(f"cards must be a positive integer, got {cards!r}", field="cards")
    start = ensure_aware(start, "start")
    end = ensure_aware(end, "end")
    if start.microsecond or end.microsecond:
        raise ValidationError("usage is metered in whole seconds", field="start")
    if end <= start:
        raise ValidationError("usage must end after it starts", field="end")


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One priced piece of usage (or its reversal), inside one month, band and policy period.

    >>> start = dt.datetime(2025, 6, 1, 2, tzinfo=UTC)
    >>> r = UsageRecord("sim", "j1", 1, 2, 3, "a100-sxm4-80gb", 8, start, start + dt.timedelta(hours=1), 1250)
    >>> r.key, r.card_seconds, r.amount_fen
    ('sim/j1/3/20250601T020000Z-20250601T030000Z', 28800, 10000)
    """

    engine: str
    engine_job_id: str
    org_id: int
    center_id: int
    pool_id: int
    accelerator: str
    cards: int
    start: dt.datetime
    end: dt.datetime
    price_fen_per_card_hour: int  # list price in force, tax-inclusive
    discount_bp: int = 0  # negotiated per-org discount in basis points
    revision: int = 0  # 0 as reported; n for the n-th correction
    kind: UsageKind = UsageKind.USAGE
    reverses: str | None = None  # key of the record a reversal cancels
    policy_on: dt.date | None = None  # start of the policy period the piece falls in (None: month start)
    _month: Month = field(init=False, repr=False, compare=False)
    _key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_identity(self.engine, self.engine_job_id)
        _check_interval(self.cards, self.start, self.end)
        if isinstance(self.price_fen_per_card_hour, bool) or self.price_fen_per_card_hour < 0:
            raise ValidationError("price must be a non-negative number of fen", field="price")
        if not 0 <= self.discount_bp < BP:
            raise ValidationError("discount must be at least 0% and below 100%", field="discount_bp")
        if (self.kind is UsageKind.REVERSAL) != (self.reverses is not None):
            raise ValidationError(
                "a reversal, and only a reversal, names the record it reverses", field="reverses"
            )
        month = Month.of(self.start)
        if self.end > month.end:
            raise ValidationError(
                "a usage record lies inside one Shanghai month; split it first", field="end"
            )
        object.__setattr__(self, "_month", month)
        key = f"{self.engine}/{self.engine_job_id}/{self.pool_id}/{_stamp(self.start)}-{_stamp(self.end)}"
        if self.revision:
            key += f"/r{self.revision}"
        if self.kind is UsageKind.REVERSAL:
            key += "/reversal"
        object.__setattr__(self, "_key", key)

    @property
    def base_key(self) -> str:
        """engine/job/pool/interval: the natural key of what was used."""
        return f"{self.engine}/{self.engine_job_id}/{self.pool_id}/{_stamp(self.start)}-{_stamp(self.end)}"

    @property
    def key(self) -> str:
        return self._key

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())

    @property
    def sign(self) -> int:
        return -1 if self.kind is UsageKind.REVERSAL else 1

    @property
    def card_seconds(self) -> int:
        """Signed card-seconds: negative for a reversal."""
        return self.sign * self.cards * self.seconds

    @property
    def month(self) -> Month:
        return self._month

    @property
    def policy_date(self) -> dt.date:
        return self.policy_on or self.month.first_day

    @property
    def exact_fen(self) -> Fraction:
        """Exact amount in fen: card-hours × price × (1 − discount)."""
        return Fraction(
            self.card_seconds * self.price_fen_per_card_hour * (BP - self.discount_bp), SECONDS_PER_HOUR * BP
        )

    @property
    def amount_fen(self) -> int:
        """The record's amount rounded half-up (informative; bills round once per line)."""
        return half_up(
            self.card_seconds * self.price_fen_per_card_hour * (BP - self.discount_bp), SECONDS_PER_HOUR * BP
        )

    def reversal(self) -> UsageRecord:
        """The record that cancels this one."""
        if self.kind is UsageKind.REVERSAL:
            raise ValidationError("a reversal cannot itself be reversed", field="reverses")
        return replace(self, kind=UsageKind.REVERSAL, reverses=self.key)


# rate card ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Band:
    """A time-of-day band in Shanghai local time, ``[start, end)``; ``end`` 00:00 means midnight."""

    start: dt.time
    end: dt.time
    price_fen_per_card_hour: int
    name: str = ""

    @property
    def start_s(self) -> int:
        return self.start.hour * 3600 + self.start.minute * 60 + self.start.second

    @property
    def end_s(self) -> int:
        e = self.end.hour * 3600 + self.end.minute * 60 + self.end.second
        return e or 86400


@dataclass(frozen=True, slots=True)
class PoolRate:
    """A pool's list prices from ``effective_from`` (Shanghai date) until the next version."""

    pool_id: int
    effective_from: dt.date
    bands: tuple[Band, ...]

    def __post_init__(self) -> None:
        if not self.bands:
            raise ValidationError("a rate needs at least one band", field="bands")
        cursor = 0
        for band in sorted(self.bands, key=lambda b: b.start_s):
            if band.start_s != cursor or band.end_s <= band.start_s:
                raise ValidationError(
                    "bands must cover the day from 00:00 to 24:00 without gaps or overlaps", field="bands"
                )
            if band.price_fen_per_card_hour < 0:
                raise ValidationError("a price cannot be negative", field="price")
            cursor = band.end_s
        if cursor != 86400:
            raise ValidationError(
                "bands must cover the day from 00:00 to 24:00 without gaps or overlaps", field="bands"
            )
        object.__setattr__(self, "bands", tuple(sorted(self.bands, key=lambda b: b.start_s)))

    @classmethod
    def flat(cls, pool_id: int, effective_from: dt.date, price_fen: int) -> PoolRate:
        return cls(pool_id, effective_from, (Band(dt.time(0), dt.time(0), price_fen, "all day"),))

    def band_at(self, when: dt.datetime) -> Band:
        local = when.astimezone(SHANGHAI)
        sec = local.hour * 3600 + local.minute * 60 + local.second
        for band in self.bands:
            if band.start_s <= sec < band.end_s:
                return band
        raise AssertionError("bands cover the day")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class Discount:
    """A negotiated discount for one org, on one pool (or every pool when ``pool_id`` is None)."""

    org_id: int
    pool_id: int | None
    effective_from: dt.date
    discount_bp: int

    def __post_init__(self) -> None:
        if not 0 <= self.discount_bp < BP:
            raise ValidationError("discount must be at least 0% and below 100%", field="discount_bp")


@dataclass
class RateCard:
    """Versioned list prices per pool (with time bands) and per-org discounts."""

    rates: list[PoolRate] = field(default_factory=list)
    discounts: list[Discount] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_pool: dict[int, list[PoolRate]] = defaultdict(list)
        for r in self.rates:
            self._by_pool[r.pool_id].append(r)
        self._by_org: dict[int, list[Discount]] = defaultdict(list)
        for d in self.discounts:
            self._by_org[d.org_id].append(d)

    def rate_on(self, pool_id: int, day: dt.date) -> PoolRate:
        found = [r for r in self._by_pool.get(pool_id, ()) if r.effective_from <= day]
        if not found:
            raise NotFoundError(f"no price for pool {pool_id} on {day}", field="pool_id")
        return max(found, key=lambda r: r.effective_from)

    def discount_on(self, org_id: int, pool_id: int, day: dt.date) -> int:
        found = [
            d
            for d in self._by_org.get(org_id, ())
            if d.pool_id in (None, pool_id) and d.effective_from <= day
        ]
        if not found:
            return 0
        # the newest agreement wins; a pool-specific one beats a general one of the same date
        return max(found, key=lambda d: (d.effective_from, d.pool_id is not None)).discount_bp

    def banded(self, pool_id: int) -> bool:
        """Whether any price version of the pool has more than one time band."""
        return any(len(r.bands) > 1 for r in self._by_pool.get(pool_id, ()))

    def version_days(self, pool_id: int, org_id: int) -> list[dt.date]:
        days = {r.effective_from for r in self._by_pool.get(pool_id, ())}
        days |= {d.effective_from for d in self._by_org.get(org_id, ()) if d.pool_id in (None, pool_id)}
        return sorted(days)


def _band_cuts(start: dt.datetime, end: dt.datetime, card: RateCard, pool_id: int) -> list[dt.datetime]:
    cuts: list[dt.datetime] = []
    day = shanghai_date(start)
    last = shanghai_date(end)
    while day <= last:
        rate = card.rate_on(pool_id, day)
        for band in rate.bands:
            if band.start_s:
                local = dt.datetime(day.year, day.month, day.day, tzinfo=SHANGHAI) + dt.timedelta(
                    seconds=band.start_s
                )
                cut = local.astimezone(UTC)
                if start < cut < end:
                    cuts.append(cut)
        day += dt.timedelta(days=1)
    return cuts


def split_usage(raw: RawUsage, card: RateCard, policy_edges: Sequence[dt.date] = ()) -> list[UsageRecord]:
    """Split at month, policy-validity, rate-version and band edges, and price each piece.

    >>> card = RateCard([PoolRate.flat(3, dt.date(2025, 1, 1), 1000)])
    >>> start = dt.datetime(2025, 6, 30, 15, tzinfo=UTC)  # 23:00 in Shanghai
    >>> raw = RawUsage("sim", "j", 1, 2, 3, "a100-sxm4-80gb", 2, start, start + dt.timedelta(hours=2))
    >>> pieces = split_usage(raw, card)
    >>> [(str(p.month), p.card_seconds) for p in pieces]
    [('2025-06', 7200), ('2025-07', 7200)]
    """
    extra = sorted(set(policy_edges) | set(card.version_days(raw.pool_id, raw.org_id)))
    pieces: list[tuple[dt.datetime, dt.datetime]] = []
    banded = card.banded(raw.pool_id)
    if (
        not banded
        and raw.end <= Month.of(raw.start).end
        and not any(raw.start < day_start(d) < raw.end for d in extra)
    ):
        spans = [(raw.start, raw.end)]  # the common case: nothing to split at
    else:
        spans = split_at_edges(raw.start, raw.end, extra)
    for s, e in spans:
        cursor = s
        for cut in sorted(_band_cuts(s, e, card, raw.pool_id)) if banded else ():
            pieces.append((cursor, cut))
            cursor = cut
        pieces.append((cursor, e))
    edges = sorted(set(policy_edges))
    out: list[UsageRecord] = []
    for s, e in pieces:
        day = shanghai_date(s)
        month = Month.of(s)
        policy_on = max([d for d in edges if month.first_day <= d <= day], default=None)
        rate = card.rate_on(raw.pool_id, day)
        out.append(
            UsageRecord(
                raw.engine,
                raw.engine_job_id,
                raw.org_id,
                raw.center_id,
                raw.pool_id,
                raw.accelerator,
                raw.cards,
                s,
                e,
                rate.band_at(s).price_fen_per_card_hour,
                card.discount_on(raw.org_id, raw.pool_id, day),
                policy_on=policy_on,
            )
        )
    return out


# the book of usage: idempotent, no second billed twice, corrections reverse and replace ------------


@dataclass
class UsageBook:
    """Every usage record kept, idempotent by key; a second of a job on a pool counts at most once."""

    records: dict[str, UsageRecord] = field(default_factory=dict)

    def active(self) -> list[UsageRecord]:
        """Usage records not reversed (what is in force)."""
        reversed_keys = {r.reverses for r in self.records.values() if r.reverses}
        return [r for r in self.records.values() if r.kind is UsageKind.USAGE and r.key not in reversed_keys]

    def add(self, record: UsageRecord) -> bool:
        """Add once: True if new, False if already there; overlapping usage of the same job is refused."""
        known = self.records.get(record.key)
        if known is not None:
            if known != record:
                raise ConflictError(f"usage {record.key} was already reported with different figures")
            return False
        if record.kind is UsageKind.USAGE:
            for other in self.active():
                if (
                    (other.engine, other.engine_job_id, other.pool_id)
                    == (record.engine, record.engine_job_id, record.pool_id)
                    and other.start < record.end
                    and record.start < other.end
                ):
                    raise ConflictError(
                        f"usage {record.key} overlaps {other.key}; correct the earlier record instead",
                        field="start",
                    )
        else:
            target = self.records.get(record.reverses or "")
            if target is None or target.kind is not UsageKind.USAGE:
                raise NotFoundError(f"nothing to reverse under {record.reverses}", field="reverses")
        self.records[record.key] = record
        return True

    def correct(self, key: str, replacement: Iterable[UsageRecord]) -> list[UsageRecord]:
        """Reverse the record ``key`` and add its replacement(s), never editing in place."""
        original = self.records.get(key)
        if original is None or original.kind is not UsageKind.USAGE:
            raise NotFoundError(f"no usage record {key}", field="key")
        if any(r.reverses == key for r in self.records.values()):
            raise ConflictError(f"usage {key} was already corrected", field="key")
        rev = original.reversal()
        self.add(rev)
        added = [rev]
        for new in replacement:
            new = replace(new, revision=max(new.revision, original.revision + 1))
            self.add(new)
            added.append(new)
        return added

    def card_seconds(self) -> int:
        return sum(r.card_seconds for r in self.records.values())


# reconciliation ----------------------------------------------------------------------------------


class DisputeState(StrEnum):
    OPEN = "open"  # held out of billing
    RELEASED = "released"  # engine's figures accepted
    CORRECTED = "corrected"  # records corrected to the platform's observation


@dataclass(frozen=True, slots=True)
class ObservedRun:
    """What the platform saw: a job dispatched to a pool and completed."""

    engine: str
    engine_job_id: str
    center_id: int
    pool_id: int
    cards: int
    dispatched_at: dt.datetime
    completed_at: dt.datetime

    @property
    def card_seconds(self) -> int:
        return self.cards * int((self.completed_at - self.dispatched_at).total_seconds())


@dataclass(frozen=True, slots=True)
class Tolerance:
    """Differences up to max(``seconds`` card-seconds, ``ratio`` × observed) are accepted."""

    card_seconds: int = 60
    ratio: Fraction = Fraction(1, 100)

    def allows(self, observed: int, difference: int) -> bool:
        return abs(difference) <= max(Fraction(self.card_seconds), self.ratio * abs(observed))


@dataclass(frozen=True, slots=True)
class Discrepancy:
    engine: str
    engine_job_id: str
    center_id: int
    month: Month
    observed_card_seconds: int
    reported_card_seconds: int

    @property
    def difference(self) -> int:
        return self.reported_card_seconds - self.observed_card_seconds


def reconcile(
    observed: Iterable[ObservedRun], reported: Iterable[UsageRecord], tolerance: Tolerance = Tolerance()
) -> list[Discrepancy]:
    """Jobs whose engine-reported card-seconds differ from the platform's observation beyond tolerance.

    Compared per job and Shanghai month (observed runs are split at month edges the same way).
    """
    obs: dict[tuple[str, str, Month], int] = defaultdict(int)
    centers: dict[tuple[str, str], int] = {}
    for run in observed:
        centers[(run.engine, run.engine_job_id)] = run.center_id
        for s, e in split_at_edges(run.dispatched_at, run.completed_at, ()):
            obs[(run.engine, run.engine_job_id, Month.of(s))] += run.cards * int((e - s).total_seconds())
    rep: dict[tuple[str, str, Month], int] = defaultdict(int)
    for rec in reported:
        centers.setdefault((rec.engine, rec.engine_job_id), rec.center_id)
        rep[(rec.engine, rec.engine_job_id, rec.month)] += rec.card_seconds
    out: list[Discrepancy] = []
    for k in sorted(set(obs) | set(rep), key=lambda k: (k[2], k[0], k[1])):
        o, r = obs.get(k, 0), rep.get(k, 0)
        if not tolerance.allows(o, r - o):
            out.append(Discrepancy(k[0], k[1], centers[(k[0], k[1])], k[2], o, r))
    return out


# bills --------------------------------------------------------------------------------------------


class BillState(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"
    VOID = "void"


_TRANSITIONS: Mapping[BillState, frozenset[BillState]] = {
    BillState.DRAFT: frozenset({BillState.ISSUED, BillState.VOID}),
    BillState.ISSUED: frozenset({BillState.PAID, BillState.VOID}),
    BillState.PAID: frozenset(),
    BillState.VOID: frozenset(),
}


def check_transition(current: BillState, target: BillState) -> None:
    """Bills go draft → issued → paid, or to void before payment; nothing else."""
    if target not in _TRANSITIONS[current]:
        raise ConflictError(f"a {current.value} bill cannot become {target.value}", field="state")


def vat_fen(gross_fen: int, rate: Fraction = DEFAULT_VAT_RATE) -> int:
    """VAT inside a tax-inclusive amount: gross × rate / (1 + rate), half-up to the fen.

    >>> vat_fen(10600)
    600
    """
    if rate < 0:
        raise ValidationError("a VAT rate cannot be negative", field="vat_rate")
    sign = -1 if gross_fen < 0 else 1
    # gross × (p/q) / (1 + p/q) = gross × p / (q + p): exact in integers, rounded once
    return sign * half_up(abs(gross_fen) * rate.numerator, rate.denominator + rate.numerator)


@dataclass(frozen=True, slots=True)
class LineKey:
    """What makes bill lines distinct: usage month and policy period, pool, price, adjustment or not."""

    usage_month: Month
    policy_on: dt.date
    pool_id: int
    accelerator: str
    price_fen_per_card_hour: int
    discount_bp: int
    adjustment: bool


@dataclass(frozen=True, slots=True)
class BillLine:
    key: LineKey
    card_seconds: int
    gross_fen: int  # tax-inclusive, as invoiced
    vat_fen: int

    @property
    def net_fen(self) -> int:
        return self.gross_fen - self.vat_fen

    @property
    def unit_price(self) -> Money:
        """Price per card-hour after discount, tax-inclusive."""
        return Money.from_fen(self.key.price_fen_per_card_hour) * Fraction(BP - self.key.discount_bp, BP)


def line_amount_fen(card_seconds: int, price_fen: int, discount_bp: int) -> int:
    """Card-seconds × price per card-hour × (1 − discount), rounded half-up once, sign kept."""
    sign = -1 if card_seconds < 0 else 1
    # fen × card-seconds × basis points over seconds per hour × basis points: integers, rounded once
    return sign * half_up(abs(card_seconds) * price_fen * (BP - discount_bp), SECONDS_PER_HOUR * BP)


def bill_lines(
    records: Iterable[UsageRecord], bill_month: Month, vat_rate: Fraction = DEFAULT_VAT_RATE
) -> list[BillLine]:
    """Group a bill's records into lines and round each line once.

    Usage of earlier months and reversals are *adjustment* lines. A correction's reversal and its
    replacement at the same price share one line: the net change, rounded once.
    """
    sums: dict[LineKey, int] = defaultdict(int)
    for r in records:
        if r.month > bill_month:
            raise ValidationError(f"usage of {r.month} cannot go on the bill of {bill_month}", field="month")
        key = LineKey(
            r.month,
            r.policy_date,
            r.pool_id,
            r.accelerator,
            r.price_fen_per_card_hour,
            r.discount_bp,
            r.month < bill_month or r.kind is UsageKind.REVERSAL,
        )
        sums[key] += r.card_seconds
    return price_lines(sums, vat_rate)


def _line_order(k: LineKey) -> tuple[bool, Month, dt.date, int, int, int]:
    return (k.adjustment, k.usage_month, k.policy_on, k.pool_id, k.price_fen_per_card_hour, k.discount_bp)


def price_lines(card_seconds: Mapping[LineKey, int], vat_rate: Fraction = DEFAULT_VAT_RATE) -> list[BillLine]:
    """Bill lines from card-seconds summed per line key: each line rounded once, in bill order."""
    out = []
    for key in sorted(card_seconds, key=_line_order):
        gross = line_amount_fen(card_seconds[key], key.price_fen_per_card_hour, key.discount_bp)
        out.append(BillLine(key, card_seconds[key], gross, vat_fen(gross, vat_rate)))
    return out


__all__ = [
    "BP",
    "DEFAULT_VAT_RATE",
    "Band",
    "BillLine",
    "BillState",
    "Discount",
    "Discrepancy",
    "DisputeState",
    "LineKey",
    "ObservedRun",
    "PoolRate",
    "RateCard",
    "RawUsage",
    "Tolerance",
    "UsageBook",
    "UsageKind",
    "UsageRecord",
    "bill_lines",
    "check_identity",
    "check_transition",
    "half_up",
    "line_amount_fen",
    "price_lines",
    "reconcile",
    "split_usage",
    "vat_fen",
]
