"""Compute federation, pure values: centers, pools, job requests, job states and run-time scaling.

No database, no HTTP, no clock: times are integer seconds on a caller-chosen axis (the simulator's
virtual clock, or Unix seconds for a database-backed scheduler). Money is :class:`Money`, exact yuan.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Final

from zhisuan.core.catalog import Accelerator, accelerator
from zhisuan.core.errors import ConflictError, ValidationError
from zhisuan.core.money import Money

SECONDS_PER_HOUR: Final = 3600
SECONDS_PER_DAY: Final = 86_400
#: Asia/Shanghai has had no daylight saving since 1991: local time is UTC+8 all year.
SHANGHAI_OFFSET_S: Final = 8 * SECONDS_PER_HOUR
#: The accelerator a trace's run times refer to when it does not say (Philly ran P100/V100-class cards).
DEFAULT_REFERENCE: Final = "v100-sxm2-32gb"
#: Engines a pool may name; the simulated one ships here, the others in the engines issue.
ENGINES: Final = frozenset({"simulated", "slurm", "ray", "kubernetes"})


# --------------------------------------------------------------------------------------------------
# Pools and centers
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriceBand:
    """A price per card-hour that applies between two Shanghai local hours of each day ``[start, end)``.

    >>> PriceBand(0, 8, Money("9.60")).covers(7), PriceBand(22, 6, Money("9")).covers(23)
    (True, True)
    """

    start_hour: int
    end_hour: int
    price: Money

    def __post_init__(self) -> None:
        for name, hour in (("start_hour", self.start_hour), ("end_hour", self.end_hour)):
            if not 0 <= hour <= 24:
                raise ValidationError(f"an hour of the day is 0–24, got {hour}", field=name)
        if self.start_hour == self.end_hour:
            raise ValidationError("a price band cannot be empty", field="end_hour")
        if self.price.is_negative():
            raise ValidationError("a price cannot be negative", field="price")

    def covers(self, hour: int) -> bool:
        """Whether local hour ``hour`` (0–23) falls in this band (bands may wrap past midnight)."""
        if self.start_hour < self.end_hour:
            return self.start_hour <= hour < self.end_hour
        return hour >= self.start_hour or hour < self.end_hour


@dataclass(frozen=True, slots=True)
class Pool:
    """One accelerator model × nodes × cards per node at a center, with its list price and engine.

    >>> p = Pool("hf-a", "hf", "340100", "Op", "a100-sxm4-80gb", 2, 8, Money("18"))
    >>> p.cards, str(p.capacity_p)
    (16, '4.992')
    """

    id: str
    center: str
    city: str
    operator: str
    accelerator_key: str
    nodes: int
    cards_per_node: int
    price: Money
    bands: tuple[PriceBand, ...] = ()
    engine: str = "simulated"

    def __post_init__(self) -> None:
        if not self.id:
            raise ValidationError("a pool needs an id", field="id")
        acc = accelerator(self.accelerator_key, field="accelerator")
        if acc.fp16_tflops is None:
            raise ValidationError(
                f"the catalog has no FP16 rating for {self.accelerator_key}; a pool needs a rated model",
                field="accelerator",
            )
        if self.nodes < 1:
            raise ValidationError("a pool has at least one node", field="nodes")
        if self.cards_per_node < 1:
            raise ValidationError("a node has at least one card", field="cards_per_node")
        if self.price.is_negative():
            raise ValidationError("a price cannot be negative", field="price")
        for price in (self.price, *(b.price for b in self.bands)):
            if not price.is_whole_fen():
                raise ValidationError(f"quote prices to the fen (0.01 yuan), got {price}", field="price")
        if self.engine not in ENGINES:
            raise ValidationError(f"unknown engine {self.engine!r}; one of {sorted(ENGINES)}", field="engine")
        hours = [h for h in range(24) if sum(b.covers(h) for b in self.bands) > 1]
        if hours:
            raise ValidationError(f"price bands overlap at hour {hours[0]}", field="bands")

    @property
    def cards(self) -> int:
        return self.nodes * self.cards_per_node

    @property
    def accelerator(self) -> Accelerator:
        return accelerator(self.accelerator_key)

    @property
    def capacity_p(self) -> Decimal:
        """Capacity in P (peak dense FP16 PFLOPS)."""
        tflops = self.accelerator.fp16_tflops or Decimal(0)
        return tflops * self.cards / 1000

    def price_at_hour(self, hour: int) -> Money:
        """The price per card-hour at a Shanghai local hour (a band if one covers it, else the list price)."""
        for band in self.bands:
            if band.covers(hour):
                return band.price
        return self.price

    def cost(self, start_s: int, seconds: int, cards: int, epoch_s: int = 0) -> Money:
        """Exact list cost of ``cards`` for ``seconds`` from ``start_s`` (Unix time = ``epoch_s + start_s``).

        >>> p = Pool("x", "c", "340100", "Op", "a100-sxm4-80gb", 1, 8, Money("18"))
        >>> p.cost(0, 1800, 2)
        Money('18.00')
        """
        if seconds <= 0:
            return Money(0)
        if not self.bands:
            return self.price * Fraction(cards * seconds, SECONDS_PER_HOUR)
        per_hour = seconds_by_local_hour(epoch_s + start_s, seconds)
        total = Money(0)
        for hour, secs in enumerate(per_hour):
            if secs:
                total += self.price_at_hour(hour) * Fraction(cards * secs, SECONDS_PER_HOUR)
        return total

    def cost_fen_seconds(self, start_s: int, seconds: int, cards: int, epoch_s: int = 0) -> int:
        """The list cost as an integer: fen × seconds / hour (exact; divide by 3600 for fen).

        >>> Pool("x", "c", "340100", "Op", "a100-sxm4-80gb", 1, 8, Money("18")).cost_fen_seconds(0, 1800, 2)
        6480000
        """
        if seconds <= 0:
            return 0
        if not self.bands:
            return self.price.to_fen() * cards * seconds
        per_hour = seconds_by_local_hour(epoch_s + start_s, seconds)
        return cards * sum(self.price_at_hour(h).to_fen() * secs for h, secs in enumerate(per_hour) if secs)

    def node_cards(self, cards: int) -> int:
        """Cards a job of ``cards`` occupies: a job wider than one node takes whole nodes.

        >>> Pool("x", "c", "340100", "Op", "a100-sxm4-80gb", 4, 8, Money("1")).node_cards(12)
        16
        """
        if cards <= self.cards_per_node:
            return cards
        return math.ceil(cards / self.cards_per_node) * self.cards_per_node


def seconds_by_local_hour(start_unix: int, seconds: int) -> list[int]:
    """How many of the seconds ``[start, start + seconds)`` fall in each Shanghai local hour 0–23.

    >>> seconds_by_local_hour(16 * 3600 - 60, 120)[:2]  # 23:59 → 00:01 Shanghai
    [60, 0]
    """
    out = [0] * 24
    full_days, rest = divmod(seconds, SECONDS_PER_DAY)
    if full_days:
        out = [full_days * SECONDS_PER_HOUR] * 24
    t = start_unix + SHANGHAI_OFFSET_S
    while rest > 0:
        hour = (t % SECONDS_PER_DAY) // SECONDS_PER_HOUR
        into = t % SECONDS_PER_HOUR
        take = min(rest, SECONDS_PER_HOUR - into)
        out[hour] += take
        t += take
        rest -= take
    return out


@dataclass(frozen=True, slots=True)
class Center:
    """An intelligent-computing center: an operator organization in a city, with pools."""

    id: str
    name: str
    city: str
    operator: str
    operator_credit_code: str = ""
    pools: tuple[Pool, ...] = ()
    name_en: str = ""

    @property
    def cards(self) -> int:
        return sum(p.cards for p in self.pools)

    @property
    def capacity_p(self) -> Decimal:
        return sum((p.capacity_p for p in self.pools), Decimal(0))


# --------------------------------------------------------------------------------------------------
# Accelerator constraints and run-time scaling
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AcceleratorConstraint:
    """What a job accepts: one model, a set of models, a minimum memory per card, domestic only.

    All given conditions must hold; an empty constraint accepts any rated accelerator.

    >>> AcceleratorConstraint(domestic_only=True).satisfied_by(accelerator("ascend-910b3"))
    True
    >>> AcceleratorConstraint(min_memory_gb=80).satisfied_by(accelerator("l40s-48gb"))
    False
    """

    models: frozenset[str] = frozenset()
    min_memory_gb: int | None = None
    domestic_only: bool = False

    @classmethod
    def model(cls, key: str) -> AcceleratorConstraint:
        """Exactly one model from the catalog."""
        accelerator(key, field="accelerator")
        return cls(models=frozenset({key}))

    @classmethod
    def any_of(cls, keys: Iterable[str]) -> AcceleratorConstraint:
        """Any of a set of models from the catalog."""
        found = frozenset(keys)
        for key in found:
            accelerator(key, field="accelerator")
        return cls(models=found)

    def satisfied_by(self, acc: Accelerator) -> bool:
        if self.models and acc.key not in self.models:
            return False
        if self.min_memory_gb is not None and (acc.memory_gb is None or acc.memory_gb < self.min_memory_gb):
            return False
        return not (self.domestic_only and not acc.domestic)

    def describe(self) -> str:
        """Short human text, e.g. 'ascend-910b3 | h100-sxm5-80gb, ≥ 64 GB, domestic'."""
        parts: list[str] = []
        if self.models:
            parts.append(" | ".join(sorted(self.models)))
        if self.min_memory_gb is not None:
            parts.append(f"≥ {self.min_memory_gb} GB")
        if self.domestic_only:
            parts.append("domestic")
        return ", ".join(parts) or "any accelerator"


@dataclass(frozen=True, slots=True)
class Scaling:
    """Run time on another accelerator: scaled by the throughput ratio.

    By default the ratio of peak dense FP16 TFLOPS from the catalog; ``measured`` maps
    ``(reference, target)`` to a measured speed-up (target is that many times faster) and overrides it.

    >>> s = Scaling()
    >>> s.runtime(3600, "v100-sxm2-32gb", "a100-sxm4-80gb")
    1443
    >>> measured = Scaling({("v100-sxm2-32gb", "a100-sxm4-80gb"): Decimal("2")})
    >>> measured.runtime(3600, "v100-sxm2-32gb", "a100-sxm4-80gb")
    1800
    """

    measured: Mapping[tuple[str, str], Decimal] = field(default_factory=dict)

    def speedup(self, reference: str, target: str) -> Fraction:
        """How many times faster ``target`` runs a job than ``reference`` (exact)."""
        if reference == target:
            return Fraction(1)
        found = self.measured.get((reference, target))
        if found is not None:
            if found <= 0:
                raise ValidationError("a measured speed-up must be positive", field="measured")
            return Fraction(found)
        back = self.measured.get((target, reference))
        if back is not None and back > 0:
            return 1 / Fraction(back)
        ref, tgt = accelerator(reference, "reference"), accelerator(target)
        if ref.fp16_tflops is None or tgt.fp16_tflops is None:
            raise ValidationError(
                f"cannot scale run time between {reference} and {target}: no FP16 rating", field="accelerator"
            )
        return Fraction(tgt.fp16_tflops) / Fraction(ref.fp16_tflops)

    def runtime(self, seconds: int, reference: str, target: str) -> int:
        """Whole seconds (rounded up, at least 1) that ``seconds`` on ``reference`` take on ``target``."""
        return max(1, math.ceil(Fraction(seconds) / self.speedup(reference, target)))


# --------------------------------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------------------------------


class JobState(StrEnum):
    """Where a job is in its life; every change is a timestamped event."""

    QUEUED = "queued"
    PLACED = "placed"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: The allowed transitions. ``placed → queued``: the engine refused or lost it before start (late binding
#: re-places it); ``failed → queued``: a retry, only while the job has retries left.
TRANSITIONS: Final[Mapping[JobState, frozenset[JobState]]] = {
    JobState.QUEUED: frozenset({JobState.PLACED, JobState.CANCELLED}),
    JobState.PLACED: frozenset({JobState.RUNNING, JobState.QUEUED, JobState.FAILED, JobState.CANCELLED}),
    JobState.RUNNING: frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED}),
    JobState.COMPLETED: frozenset(),
    JobState.FAILED: frozenset({JobState.QUEUED}),
    JobState.CANCELLED: frozenset(),
}


def check_transition(old: JobState, new: JobState, *, retries_left: int = 0) -> JobState:
    """Return ``new`` if a job may go from ``old`` to ``new``, else raise ConflictError.

    >>> check_transition(JobState.QUEUED, JobState.PLACED)
    <JobState.PLACED: 'placed'>
    >>> check_transition(JobState.COMPLETED, JobState.RUNNING)
    Traceback (most recent call last):
    ...
    zhisuan.core.errors.ConflictError: state: a completed job cannot become running
    """
    if new not in TRANSITIONS[old]:
        raise ConflictError(f"a {old} job cannot become {new}", field="state")
    if old is JobState.FAILED and new is JobState.QUEUED and retries_left <= 0:
        raise ConflictError("the job failed and has no retries left", field="state")
    return new


def is_terminal(state: JobState) -> bool:
    """Completed, failed (unless retried) and cancelled jobs are over."""
    return state in {JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED}


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A job request: who, how many cards at once, what accelerator, how long on the reference card.

    ``submit_s`` and ``deadline_s`` are seconds on the scheduler's time axis. ``actual_runtime_s`` is
    how long the job really runs on the reference (traces know it; a live scheduler only estimates).
    """

    id: str
    org: str
    cards: int
    runtime_s: int
    submit_s: int = 0
    constraint: AcceleratorConstraint = AcceleratorConstraint()
    reference: str = DEFAULT_REFERENCE
    price_ceiling: Money | None = None
    deadline_s: int | None = None
    data_city: str | None = None
    data_center: str | None = None
    name: str = ""
    command: str = ""
    retries: int = 0
    actual_runtime_s: int | None = None

    def __post_init__(self) -> None:
        if self.cards < 1:
            raise ValidationError("a job needs at least one card", field="cards")
        if self.runtime_s < 1:
            raise ValidationError("estimated run time must be at least one second", field="runtime_s")
        if self.submit_s < 0:
            raise ValidationError("submit time cannot be negative", field="submit_s")
        if self.retries < 0:
            raise ValidationError("retries cannot be negative", field="retries")
        if self.price_ceiling is not None and self.price_ceiling.is_negative():
            raise ValidationError("a price ceiling cannot be negative", field="price_ceiling")
        if self.deadline_s is not None and self.deadline_s <= self.submit_s:
            raise ValidationError("the deadline must be after submission", field="deadline_s")
        if self.actual_runtime_s is not None and self.actual_runtime_s < 1:
            raise ValidationError("actual run time must be at least one second", field="actual_runtime_s")

    @property
    def true_runtime_s(self) -> int:
        return self.runtime_s if self.actual_runtime_s is None else self.actual_runtime_s


def pool_refusal(job: JobSpec, pool: Pool, scaling: Scaling | None = None) -> str | None:
    """Why ``pool`` can never run ``job`` (None if it can)."""
    acc = pool.accelerator
    if not job.constraint.satisfied_by(acc):
        return f"{pool.id} has {acc.key}, the job asks for {job.constraint.describe()}"
    if pool.node_cards(job.cards) > pool.cards:
        return f"{pool.id} has {pool.cards} cards, the job needs {job.cards} at once"
    if job.price_ceiling is not None:
        low = min([pool.price, *(b.price for b in pool.bands)])
        if low > job.price_ceiling:
            ceiling = job.price_ceiling.round()
            return f"{pool.id} costs {low.round()} yuan/card-hour, above the ceiling {ceiling}"
    if job.deadline_s is not None:
        run = (scaling or Scaling()).runtime(job.runtime_s, job.reference, pool.accelerator_key)
        if job.submit_s + run > job.deadline_s:
            return f"{pool.id} needs {run} s, the deadline leaves {job.deadline_s - job.submit_s} s"
    return None


def feasible_pools(job: JobSpec, pools: Iterable[Pool], scaling: Scaling | None = None) -> list[Pool]:
    """The pools that could ever run ``job`` (constraint, gang width, price ceiling, deadline)."""
    return [p for p in pools if pool_refusal(job, p, scaling) is None]


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why no pool can ever run a job: the request ``field`` to change, and one clear sentence.

    >>> Refusal("cards", "no pool can run 64 cards at once").text()
    'no pool can run 64 cards at once'
    """

    field: str
    detail: str

    def text(self) -> str:
        """The sentence shown to the user."""
        return self.detail


def refusal_reason(job: JobSpec, pools: Iterable[Pool], scaling: Scaling | None = None) -> Refusal | None:
    """Why no pool can ever satisfy ``job`` — the field to blame and one clear sentence — or None.

    >>> pool = Pool("hf-a", "hf", "340100", "Op", "a100-sxm4-80gb", 2, 8, Money("18"))
    >>> refusal_reason(JobSpec("j", "org", 32, 60), [pool])
    Refusal(field='cards', detail='no pool can run 32 cards at once (the widest matching pool, hf-a, has 16)')
    """
    pools = list(pools)
    if not pools:
        return Refusal("job", "the province has no pools")
    if feasible_pools(job, pools, scaling):
        return None
    matching = [p for p in pools if job.constraint.satisfied_by(p.accelerator)]
    if not matching:
        return Refusal("accelerators", f"no pool has an accelerator matching {job.constraint.describe()}")
    wide = [p for p in matching if p.node_cards(job.cards) <= p.cards]
    if not wide:
        widest = max(matching, key=lambda p: p.cards)
        return Refusal(
            "cards",
            f"no pool can run {job.cards} cards at once "
            f"(the widest matching pool, {widest.id}, has {widest.cards})",
        )
    if job.price_ceiling is not None:
        priced = [p for p in wide if min([p.price, *(b.price for b in p.bands)]) <= job.price_ceiling]
        if not priced:
            ceiling = job.price_ceiling.round()
            return Refusal(
                "price_ceiling",
                f"every matching pool costs more than the ceiling of {ceiling} yuan/card-hour",
            )
        wide = priced
    return Refusal("deadline", "no matching pool can finish the job before its deadline")


__all__ = [
    "DEFAULT_REFERENCE",
    "ENGINES",
    "TRANSITIONS",
    "AcceleratorConstraint",
    "Center",
    "JobSpec",
    "JobState",
    "Pool",
    "PriceBand",
    "Refusal",
    "Scaling",
    "check_transition",
    "feasible_pools",
    "is_terminal",
    "pool_refusal",
    "refusal_reason",
    "seconds_by_local_hour",
]
