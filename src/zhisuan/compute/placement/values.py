"""Placement's plain values: decisions, typed hold reasons, quotas, usage, weights and the voucher port."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Final, Protocol

from zhisuan.compute.model import JobSpec, Pool, Refusal
from zhisuan.core.clock import SHANGHAI, UTC
from zhisuan.core.errors import ValidationError
from zhisuan.core.ids import OrgId
from zhisuan.core.money import Money, Rounding
from zhisuan.core.orgs import OwnershipGraph
from zhisuan.core.regions import UNKNOWN_CITY

#: How long a job waits before options that would hold it back longer give up (patience for a cheaper
#: pool, waiting for a faster one): it then takes the best pool free.
DEFAULT_AGING_S: Final = 6 * 3600


# --------------------------------------------------------------------------------------------------
# Art. 2 as placement needs it (a port: the real rule is built outside compute, from the policy engine)
# --------------------------------------------------------------------------------------------------


class VoucherEstimate(Protocol):
    """Art. 2 as placement needs it: what a user pays of a pool's price, on a date."""

    def keep(self, org: str, operator: str, on: dt.date) -> Fraction:
        """Share of the gross price the user bears (1 when no voucher)."""
        ...

    def net(self, org: str, operator: str, on: dt.date, gross: Money) -> Money:
        """What the user pays for ``gross``, rounded as settlement rounds."""
        ...

    def used_provisional(self) -> Mapping[str, tuple[str, ...]]:
        """The provisional parameters the estimates given so far rested on, per article (empty: none)."""
        ...


@dataclass(frozen=True, slots=True)
class OrgDirectory:
    """What art. 2 needs to know of the organizations placement names by key (their names).

    >>> from zhisuan.core.orgs import OwnershipGraph
    >>> d = OrgDirectory({"a": 1, "b": 2}, {"a": "340100"}, frozenset({"a"}), OwnershipGraph.of(()))
    >>> d.in_province("a"), d.in_province("b"), d.city("b"), d.related("a", "b")
    (True, False, '000000', False)
    """

    ids: Mapping[str, int]
    cities: Mapping[str, str | None]
    provincial: frozenset[str]
    graph: OwnershipGraph

    def in_province(self, org: str) -> bool:
        """Whether the organization is registered in the province (art. 2 pays only those)."""
        return org in self.provincial

    def city(self, org: str) -> str:
        """The organization's 6-digit city code (``UNKNOWN_CITY`` when it is not recorded)."""
        return self.cities.get(org) or UNKNOWN_CITY

    def related(self, org: str, operator: str) -> bool:
        """Whether the user and the center's operator are related parties (self-use, art. 2)."""
        a, b = self.ids.get(org), self.ids.get(operator)
        if a is None or b is None:
            return org == operator
        return self.graph.related(OrgId(a), OrgId(b))


#: How the scheduler gets its art. 2 estimate for one pass: the composition root builds it from the
#: policy packs in force over the organizations the pass loaded (compute does not import policy).
VoucherRule = Callable[[OrgDirectory], VoucherEstimate]


class NoVoucher:
    """No compute voucher anywhere: users bear the list price (for the simulator and tests).

    >>> NoVoucher().keep("org", "op", dt.date(2025, 6, 1))
    Fraction(1, 1)
    """

    def keep(self, org: str, operator: str, on: dt.date) -> Fraction:
        """The whole price."""
        return Fraction(1)

    def net(self, org: str, operator: str, on: dt.date, gross: Money) -> Money:
        """The gross amount, rounded to the fen as bills round."""
        return gross.round(Rounding.HALF_UP)

    def used_provisional(self) -> Mapping[str, tuple[str, ...]]:
        """No estimate, nothing provisional."""
        return {}


# --------------------------------------------------------------------------------------------------
# Typed hold reasons: facts here, words only in HoldReason.text()
# --------------------------------------------------------------------------------------------------


class HoldKind(StrEnum):
    """The category of a hold, for admins' filters (stored as ``hold_kind``)."""

    QUOTA = "quota"
    BUDGET = "budget"
    UNRUNNABLE = "unrunnable"
    UNAVAILABLE = "unavailable"
    ENGINE = "engine"
    RESERVED = "reserved"
    CAPACITY = "capacity"


@dataclass(frozen=True, slots=True)
class CardQuota:
    """The org's concurrent-card quota is used up."""

    org: str
    in_use: int
    limit: int
    cards: int


@dataclass(frozen=True, slots=True)
class ModelQuota:
    """Per-model card quotas keep the job off every pool that could run it: (used, cap, model) each."""

    org: str
    blocked: tuple[tuple[int, int, str], ...]
    cards: int


@dataclass(frozen=True, slots=True)
class YuanBudget:
    """The org's monthly budget in yuan (what it pays after vouchers) would be exceeded."""

    org: str
    spent: float
    cap: float
    cost: float


@dataclass(frozen=True, slots=True)
class HourBudget:
    """The org's monthly card-hour budget would be exceeded."""

    org: str
    used: float
    cap: float
    needs: float


@dataclass(frozen=True, slots=True)
class Reserved:
    """The job holds the EASY reservation on ``pool`` from ``HoldReason.until``."""

    pool: str
    cards: int


@dataclass(frozen=True, slots=True)
class NotEnoughCards:
    """No matching pool has the cards free at once."""

    cards: int
    most_free: int


@dataclass(frozen=True, slots=True)
class QueuedBehind:
    """Earlier jobs of the same size for the same pools go first (``org`` set under fair share)."""

    ahead: int
    org: str = ""


@dataclass(frozen=True, slots=True)
class WaitingForPool:
    """The job waits for a faster or cheaper pool expected to free up in ``in_s`` seconds."""

    pool: str
    in_s: int


@dataclass(frozen=True, slots=True)
class Patience:
    """Only overflow pools are free; the job waits until ``HoldReason.until``, then takes ``pool``."""

    ratio: float
    pool: str


@dataclass(frozen=True, slots=True)
class Unrunnable:
    """No pool can ever run the job."""

    refusal: Refusal


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Only unavailable pools could run the job: (pool, why) each."""

    pools: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True, slots=True)
class EngineRefused:
    """The last pool's engine refused the job."""

    why: str


@dataclass(frozen=True, slots=True)
class NotQueued:
    """The job is not in any queue."""


HoldDetail = (
    CardQuota
    | ModelQuota
    | YuanBudget
    | HourBudget
    | Reserved
    | NotEnoughCards
    | QueuedBehind
    | WaitingForPool
    | Patience
    | Unrunnable
    | Unavailable
    | EngineRefused
    | NotQueued
)


def _when(until: int | dt.datetime | None) -> str:
    """A virtual second as ``t=<s>s``; a real instant as a Shanghai clock time."""
    if isinstance(until, dt.datetime):
        return f"{until.astimezone(SHANGHAI):%Y-%m-%d %H:%M} (Shanghai)"
    return f"t={until}s"


@dataclass(frozen=True, slots=True)
class HoldReason:
    """Why a job waits: its ``kind``, the facts, and for timed holds ``until`` (a second on the
    scheduler's axis, or an aware instant)."""

    kind: HoldKind
    detail: HoldDetail
    until: int | dt.datetime | None = None

    def text(self) -> str:
        """The reason in words, for the job's owner and for admins.

        >>> at = dt.datetime(2025, 6, 1, tzinfo=UTC)
        >>> HoldReason(HoldKind.RESERVED, Reserved("hf-a", 8), at).text()[:46]
        'reserved hf-a from 2025-06-01 08:00 (Shanghai)'
        """
        d = self.detail
        if isinstance(d, CardQuota):
            return (
                f"quota: {d.org} uses {d.in_use} of {d.limit} concurrent cards; this job needs {d.cards} more"
            )
        if isinstance(d, ModelQuota):
            used = sorted({f"{u} of {cap} {model} cards" for u, cap, model in d.blocked})
            return f"quota: {d.org} uses " + "; ".join(used) + f"; this job needs {d.cards} more"
        if isinstance(d, YuanBudget):
            return (
                f"budget: {d.org} has committed {d.spent:.2f} of {d.cap:.2f} yuan this month; "
                f"this job costs at least {d.cost:.2f}"
            )
        if isinstance(d, HourBudget):
            return (
                f"budget: {d.org} has used {d.used:.1f} of {d.cap:.1f} card-hours this month; "
                f"this job needs {d.needs:.1f}"
            )
        if isinstance(d, Reserved):
            return (
                f"reserved {d.pool} from {_when(self.until)} "
                f"(needs {d.cards} cards; later jobs may only backfill around it)"
            )
        if isinstance(d, NotEnoughCards):
            return f"waiting for {d.cards} cards at once; the matching pools have at most {d.most_free} free"
        if isinstance(d, QueuedBehind):
            whose = f" of {d.org}" if d.org else ""
            return f"queued behind {d.ahead} earlier jobs{whose} of the same size for the same pools"
        if isinstance(d, WaitingForPool):
            return (
                f"waiting for {d.pool}: expected to start in {d.in_s} s and finish sooner or cheaper "
                "than on the pools free now"
            )
        if isinstance(d, Patience):
            return (
                f"waiting until {_when(self.until)} for a pool at most {d.ratio}× the best price per work; "
                f"after that it takes {d.pool}"
            )
        if isinstance(d, Unrunnable):
            return f"unrunnable: {d.refusal.text()}"
        if isinstance(d, Unavailable):
            down = "; ".join(sorted({f"{pool}: {why}" for pool, why in d.pools}))
            return f"unavailable: the pools that can run it are unavailable now ({down})"
        if isinstance(d, EngineRefused):
            return f"engine refused on the last pool: {d.why}"
        return "not queued"

    def on_clock(self, epoch_s: int) -> HoldReason:
        """The same reason with ``until`` as an aware instant (``epoch_s`` is the axis' Unix second 0)."""
        if isinstance(self.until, int):
            when = dt.datetime.fromtimestamp(epoch_s + self.until, UTC)
            return HoldReason(self.kind, self.detail, when)
        return self


NOT_QUEUED: Final = HoldReason(HoldKind.CAPACITY, NotQueued())


# --------------------------------------------------------------------------------------------------
# Decisions and state over plain values
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Placement:
    """Bind ``job_id`` to ``pool_id`` and start it at ``start_s``; it is expected to end at ``end_s``."""

    job_id: str
    pool_id: str
    start_s: int
    end_s: int
    cards: int
    backfilled: bool = False


@dataclass(frozen=True, slots=True)
class Hold:
    """``job_id`` waits; ``reason`` says why, for its owner and for admins."""

    job_id: str
    reason: HoldReason

    @property
    def unrunnable(self) -> bool:
        """No pool can ever run the job (as opposed to: not now)."""
        return self.reason.kind is HoldKind.UNRUNNABLE


Decision = Placement | Hold


@dataclass(frozen=True, slots=True)
class RunningJob:
    """A job already running on a pool (for :meth:`Scheduler.decide`)."""

    job_id: str
    org: str
    cards: int
    end_s: int
    cost_yuan: Money = field(default_factory=Money)


@dataclass(frozen=True, slots=True)
class PoolState:
    """A pool and what runs on it now."""

    pool: Pool
    running: tuple[RunningJob, ...] = ()


@dataclass(frozen=True, slots=True)
class Quota:
    """Limits for one organization over all centers together (enforced at dispatch)."""

    max_cards: int | None = None
    max_cards_by_model: Mapping[str, int] = field(default_factory=dict)
    monthly_budget_yuan: Money | None = None
    monthly_card_hours: Decimal | None = None

    def __post_init__(self) -> None:
        if self.max_cards is not None and self.max_cards < 0:
            raise ValidationError("a card quota cannot be negative", field="max_cards")
        if self.monthly_budget_yuan is not None and self.monthly_budget_yuan.is_negative():
            raise ValidationError("a budget cannot be negative", field="monthly_budget_yuan")
        if self.monthly_card_hours is not None and self.monthly_card_hours < 0:
            raise ValidationError("a card-hour budget cannot be negative", field="monthly_card_hours")


@dataclass(frozen=True, slots=True)
class MonthUsage:
    """What an organization has already committed this month (yuan it pays, card-hours)."""

    yuan: Money = field(default_factory=Money)
    card_hours: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Weights:
    """How the ``zhisuan`` policy trades expected finish, price and data locality (relative terms)."""

    finish: float = 1.0
    price: float = 0.5
    other_center_same_city: float = 0.05
    other_city: float = 0.15
    #: wait for a faster or cheaper pool only if it is expected to free up within this many seconds
    #: (off by default: on Philly, jobs herd onto the same fast pool and everyone waits longer)
    max_wait_s: int = 0
    #: pools whose price per unit of work (after the voucher) exceeds the cheapest matching pool's by
    #: this factor are overflow capacity: a job takes one only after waiting ``patience`` ...
    overflow_ratio: float = 1.5
    #: ... which is this share of its run time on its best pool, and at most ``patience_s``
    #: (off by default: on Philly at load ×24 it saved under 0.5% of user cost for +40–115% mean JCT)
    patience_ratio: float = 0.5
    patience_s: int = 0
    #: reservations for the best-priority gang jobs (more than one card) that cannot start: small
    #: jobs fill every card that frees, so without one a gang job waits until the queue runs dry
    lead_reservations: int = 1
    #: a job that could start now but would finish (or pay) clearly better on a busy pool, even after
    #: waiting for it, reserves that pool and waits: "clearly" is a score at least this share lower ...
    better_gain: float = 0.5
    #: ... and only for jobs that would run at least this long where they could start now (the
    #: pool choice of long jobs decides most of the JCT and cost of a heavy-tailed trace)
    better_min_run_s: int = 3600
    #: aging in the queue's order: every this many seconds of waiting count as halving a job's work
    #: (0 = off: pure smallest-work-first; on the overload sweep aging turned medians FIFO-like)
    age_halving_s: int = 0
    #: while more jobs queue than cards are free, a one-card job that would run at least this long on
    #: the pool chosen for it does not start there if another of its pools runs it no slower and
    #: charges no more per unit of work (after the voucher), one of the two by ``dominated_margin`` at
    #: least: it waits for such a pool (0 = off). On the overload sweep the longest one-card jobs took
    #: the one pool free as the queue drained, often the slowest and dearest per unit of work (the H20
    #: of ``stress-b``): user cost up to 12% above least-loaded's from one or two jobs
    dominated_min_run_s: int = 7200
    dominated_margin: float = 0.1
    #: ... for at most this share of its run time on that pool (counted from its submission), then it
    #: takes the pool free (the better pool's freed cards may go to jobs ahead of it in the order)
    dominated_wait: float = 0.25


@dataclass(frozen=True, slots=True)
class Start:
    """A job started by a pass (the engine's own record; the simulator turns it into results).

    ``end_s`` is when it really ends (its true run time); ``entry`` is how its cards are recorded
    on the pool (estimated end, sequence, cards held), handed back to :meth:`QueueEngine.finish`.
    """

    job: JobSpec
    pool: Pool
    start_s: int
    end_s: int
    cards: int
    backfilled: bool
    entry: tuple[int, int, int]


__all__ = [
    "DEFAULT_AGING_S",
    "NOT_QUEUED",
    "CardQuota",
    "Decision",
    "EngineRefused",
    "Hold",
    "HoldDetail",
    "HoldKind",
    "HoldReason",
    "HourBudget",
    "ModelQuota",
    "MonthUsage",
    "NoVoucher",
    "NotEnoughCards",
    "NotQueued",
    "Patience",
    "Placement",
    "PoolState",
    "QueuedBehind",
    "Quota",
    "Refusal",
    "Reserved",
    "RunningJob",
    "Start",
    "Unavailable",
    "Unrunnable",
    "VoucherEstimate",
    "WaitingForPool",
    "Weights",
    "YuanBudget",
]
