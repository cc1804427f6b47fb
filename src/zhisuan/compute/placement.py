"""Placement: the platform's meta-scheduler and its pluggable policies.

Two ways to bind a job to a pool:

* **early binding** (``user-choice``, ``round-robin``, ``least-loaded``): a pool is chosen when the job
  is submitted; the job then waits in that pool's own queue (FIFO + EASY backfill on its cards);
* **late binding** (``pooled-ideal``, ``zhisuan``): the job waits in the platform queue and is bound
  to a pool only when one can start it.

Both run on :class:`QueueEngine`, one queue over a set of pools with EASY backfill: the oldest job
that cannot start holds a reservation on one pool (``max_reservations``, default one), with its
*shadow time*; later jobs start there only if they end by then or fit in the cards left over at the
shadow time. Queued jobs are indexed by feasibility class (the exact set of pools that can run them),
cards and — under fair share — organization, so a pass looks at queue heads of the classes whose pools
changed, never at every job.

:class:`Scheduler` offers the same logic to a database-backed dispatcher over plain values:
``Scheduler(...).decide(queue, pool_states, now) -> list[Placement | Hold]``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Final, Protocol

from zhisuan.compute.model import (
    SHANGHAI_OFFSET_S,
    JobSpec,
    Pool,
    Scaling,
    pool_refusal,
    refusal_reason,
)
from zhisuan.core.errors import NotFoundError, ValidationError
from zhisuan.core.money import Money

#: Art. 2 compute voucher: up to 20% of compute spend. The policy engine owns the real rule; the
#: scheduler only needs an expected rate to rank pools by the price the user will bear.
DEFAULT_VOUCHER_RATE: Final = Decimal("0.2")
#: A job that has waited this long goes ahead of fair-share order (bounded waiting, no starvation).
DEFAULT_AGING_S: Final = 6 * 3600
_ANY: Final = 1 << 62


# --------------------------------------------------------------------------------------------------
# Plain values in and out
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
    reason: str
    unrunnable: bool = False


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


# --------------------------------------------------------------------------------------------------
# Runtime structures (mutable, index-based: this is the hot path)
# --------------------------------------------------------------------------------------------------


class _Reservation:
    __slots__ = ("extra", "job", "pool", "shadow")

    def __init__(self, job: _Job, pool: _PoolRt, shadow: int, extra: int) -> None:
        self.job = job
        self.pool = pool
        self.shadow = shadow
        self.extra = extra


class _PoolRt:
    """One pool's live state: free cards, running jobs sorted by end, its reservation."""

    __slots__ = (
        "cards",
        "center",
        "city",
        "classes",
        "cpn",
        "ends",
        "free",
        "idx",
        "model",
        "operator",
        "pool",
        "price_f",
        "res",
        "tflops",
    )

    def __init__(self, idx: int, pool: Pool) -> None:
        self.idx = idx
        self.pool = pool
        self.cards = pool.cards
        self.cpn = pool.cards_per_node
        self.free = pool.cards
        self.center = pool.center
        self.city = pool.city
        self.model = pool.accelerator_key
        self.operator = pool.operator
        self.price_f = float(pool.price.exact)
        self.tflops = float(pool.accelerator.fp16_tflops or 0)
        self.ends: list[tuple[int, int, int]] = []  # (end_s, seq, cards) sorted
        self.res: _Reservation | None = None
        self.classes: list[_Class] = []  # the feasibility classes that include this pool

    def node_cards(self, cards: int) -> int:
        if cards <= self.cpn:
            return cards
        return -(-cards // self.cpn) * self.cpn

    def shadow(self, need: int, now: int) -> tuple[int, int]:
        """Earliest time ``need`` cards are free here and the cards left over then."""
        have = self.free
        if have >= need:
            return now, have - need
        for end, _seq, cards in self.ends:
            have += cards
            if have >= need:
                return max(end, now), have - need
        return now + 10**12, 0  # cannot happen for a feasible job


class _Job:
    __slots__ = (
        "bucket",
        "cards",
        "cls",
        "factors",
        "org",
        "pools",
        "queued",
        "res",
        "rt",
        "seq",
        "spec",
        "submit",
    )

    def __init__(self, spec: JobSpec, seq: int, factors: list[tuple[int, int]]) -> None:
        self.spec = spec
        self.seq = seq
        self.submit = spec.submit_s
        self.org = spec.org
        self.cards = spec.cards
        self.rt = spec.runtime_s
        self.factors = factors  # per pool index: run time there = ceil(rt * den / num)
        self.pools: tuple[_PoolRt, ...] = ()
        self.cls: _Class | None = None
        self.bucket: _Bucket | None = None
        self.queued = True
        self.res: _Reservation | None = None


class _Bucket:
    """Queued jobs of one org, one size, one class: FIFO, plus shortest-first when asked.

    Removal is lazy (a job's ``queued`` flag); ``n`` counts the jobs really queued.
    """

    __slots__ = ("fifo", "n", "short", "shortest_first")

    def __init__(self, shortest_first: bool) -> None:
        self.fifo: deque[_Job] = deque()
        self.short: list[tuple[int, int, _Job]] = []
        self.shortest_first = shortest_first
        self.n = 0

    def push(self, job: _Job) -> None:
        self.fifo.append(job)
        heapq.heappush(self.short, (job.rt, job.seq, job))
        self.n += 1

    def shortest(self) -> _Job:
        """The queued job with the shortest estimate: the best backfill candidate of this bucket."""
        short = self.short
        while not short[0][2].queued:
            heapq.heappop(short)
        return short[0][2]

    def head(self, now: int, aging_s: int) -> _Job:
        """The job this bucket offers next: the oldest if it has aged, else the shortest (or oldest)."""
        fifo = self.fifo
        while not fifo[0].queued:
            fifo.popleft()
        oldest = fifo[0]
        if not self.shortest_first or now - oldest.submit >= aging_s:
            return oldest
        return self.shortest()

    def position(self, job: _Job) -> int:
        """How many queued jobs of this bucket were submitted before ``job``."""
        return sum(1 for j in self.fifo if j.queued and j.seq < job.seq)


class _Class:
    """Jobs that fit exactly the same pools; queued as FIFOs keyed by (cards, org)."""

    __slots__ = ("by_size", "pools", "queued", "sizes")

    def __init__(self, pools: tuple[_PoolRt, ...]) -> None:
        self.pools = pools
        self.by_size: dict[int, dict[str, _Bucket]] = {}  # cards -> org -> bucket (non-empty only)
        self.sizes: list[int] = []  # the keys of by_size, ascending
        self.queued = 0


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


class Ranking(Protocol):
    """Pools of a job's class best first, when the order does not depend on the moment (else None)."""

    def __call__(self, engine: QueueEngine, job: _Job) -> tuple[tuple[_PoolRt, ...], int] | None: ...


class Chooser(Protocol):
    """Picks the pool for a job the pass is about to place; None = keep it waiting (with a reason)."""

    def __call__(
        self, engine: QueueEngine, job: _Job, now: int, startable: list[_PoolRt]
    ) -> tuple[_PoolRt | None, str]: ...


# --------------------------------------------------------------------------------------------------
# The queue engine
# --------------------------------------------------------------------------------------------------


class QueueEngine:
    """One queue in front of a set of pools: priority order, gang starts, EASY backfill, quotas."""

    def __init__(
        self,
        pools: Sequence[Pool],
        *,
        fair_share: bool,
        chooser: Chooser,
        ranking: Ranking | None = None,
        scaling: Scaling | None = None,
        voucher_rate: Decimal = DEFAULT_VOUCHER_RATE,
        quotas: Mapping[str, Quota] | None = None,
        org_weights: Mapping[str, float] | None = None,
        aging_s: int = DEFAULT_AGING_S,
        epoch_s: int = 0,
        weights: Weights | None = None,
        max_reservations: int = 1,
    ) -> None:
        self.pools = [_PoolRt(i, p) for i, p in enumerate(pools)]
        self.max_reservations = max_reservations
        self._n_res = 0
        self._fifo: deque[_Job] = deque()
        # classes whose pools or queue changed since the last pass, with the most free cards on a pool
        # that changed (only jobs that narrow can have become startable); _ANY = look at everything
        self._dirty: dict[int, tuple[_Class, int]] = {}
        self.by_id = {p.pool.id: p for p in self.pools}
        self.fair_share = fair_share
        self.chooser = chooser
        self.ranking: Ranking = ranking or rank_none
        self.scaling = scaling or Scaling()
        self.voucher = float(voucher_rate)
        self.quotas = dict(quotas or {})
        self.org_weights = dict(org_weights or {})
        self.aging_s = aging_s
        self.epoch_s = epoch_s
        self.weights = weights or Weights()
        self._classes: dict[tuple[int, ...], _Class] = {}
        self._active: dict[int, _Class] = {}  # id(cls) -> cls with queued jobs
        self._jobs: dict[str, _Job] = {}
        self._seq = 0
        self._speed: dict[tuple[str, str], tuple[int, int]] = {}
        self.org_cards: dict[str, int] = {}
        self.org_tflops: dict[str, float] = {}
        self.org_model_cards: dict[tuple[str, str], int] = {}
        self._month: tuple[int, int, int] = (-1, -1, -1)  # (key, start_s, end_s) on the engine's axis
        self.month_yuan: dict[str, float] = {}
        self.month_card_h: dict[str, float] = {}
        self.budget_blocked = False
        self.reasons: dict[str, str] = {}
        self.queued_cards_by_pool: dict[int, int] = {}
        self.free_total = sum(p.cards for p in self.pools)
        self.operators = {p.operator for p in self.pools}
        self.rank_cache: dict[tuple[object, ...], tuple[tuple[_PoolRt, ...], int]] = {}
        self.wake_at: int | None = None  # when a job waiting out its patience should look again
        self.total_tflops = sum(p.cards * p.tflops for p in self.pools) or 1.0
        self._fair: dict[str, float] = {}
        self._factor_cache: dict[str, list[tuple[int, int]]] = {}
        self._class_cache: dict[tuple[object, ...], tuple[_PoolRt, ...]] = {}
        self._class_keys: dict[tuple[_PoolRt, ...], tuple[int, ...]] = {}
        self._by_model = any(q.max_cards_by_model for q in self.quotas.values())
        self.center_city = {p.center: p.city for p in self.pools}

    # ---- queries ---------------------------------------------------------------------------------
    @property
    def queued(self) -> int:
        return len(self._jobs)

    def queued_jobs(self) -> Iterable[JobSpec]:
        return (j.spec for j in self._jobs.values())

    def runtime_on(self, job: _Job, pool: _PoolRt) -> int:
        """Scaled run time (estimate) of ``job`` on ``pool`` in whole seconds."""
        num, den = job.factors[pool.idx]
        return -(-job.rt * den // num)

    def _factors(self, reference: str) -> list[tuple[int, int]]:
        found = self._factor_cache.get(reference)
        if found is None:
            found = self._factor_cache[reference] = [self._ratio(reference, p.model) for p in self.pools]
        return found

    def true_runtime_on(self, spec: JobSpec, pool: Pool) -> int:
        num, den = self._ratio(spec.reference, pool.accelerator_key)
        return max(1, -(-spec.true_runtime_s * den // num))

    def _ratio(self, reference: str, model: str) -> tuple[int, int]:
        key = (reference, model)
        found = self._speed.get(key)
        if found is None:
            f = self.scaling.speedup(reference, model)
            found = (f.numerator, f.denominator)
            self._speed[key] = found
        return found

    def user_price(self, job: _Job, pool: _PoolRt) -> float:
        """Yuan per card-hour the user bears after the voucher (no voucher for self-use, art. 2)."""
        if job.org == pool.operator:
            return pool.price_f
        return pool.price_f * (1.0 - self.voucher)

    # ---- submission ------------------------------------------------------------------------------
    def submit(self, spec: JobSpec) -> str | None:
        """Queue a job; return the reason if no pool here can ever run it (then it is not queued)."""
        if spec.id in self._jobs:
            raise ValidationError(f"job {spec.id!r} is already queued", field="id")
        sig = _signature(spec)
        cached = self._class_cache.get(sig) if spec.deadline_s is None else None
        if cached is None:
            cached = tuple(p for p in self.pools if pool_refusal(spec, p.pool, self.scaling) is None)
            if spec.deadline_s is None:
                self._class_cache[sig] = cached
        pools = cached
        if not pools:
            return refusal_reason(spec, [p.pool for p in self.pools], self.scaling) or "no pool fits"
        quota = self.quotas.get(spec.org)
        if quota is not None and quota.max_cards is not None and spec.cards > quota.max_cards:
            return f"{spec.org} may use at most {quota.max_cards} cards at once; the job needs {spec.cards}"
        if quota is not None and quota.max_cards_by_model:
            pools = tuple(
                p
                for p in pools
                if quota.max_cards_by_model.get(p.model, spec.cards) >= p.node_cards(spec.cards)
            )
            if not pools:
                return (
                    f"{spec.org}'s per-model quotas leave no matching pool wide enough for {spec.cards} cards"
                )
        job = _Job(spec, self._seq, self._factors(spec.reference))
        if quota is not None:
            over = self._over_budget_alone(job, pools, quota)
            if over is not None:
                return over
        self._seq += 1
        key = self._class_keys.get(pools)
        if key is None:
            key = self._class_keys[pools] = tuple(p.idx for p in pools)
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = _Class(pools)
            for p in pools:
                p.classes.append(cls)
        job.pools = pools
        job.cls = cls
        orgs = cls.by_size.get(spec.cards)
        if orgs is None:
            orgs = cls.by_size[spec.cards] = {}
            insort(cls.sizes, spec.cards)
        # fair share needs one queue per org; FIFO order does not, so FIFO queues pool all orgs
        okey = spec.org if self.fair_share else ""
        bucket = orgs.get(okey)
        if bucket is None:
            bucket = orgs[okey] = _Bucket(self.fair_share)
        bucket.push(job)
        job.bucket = bucket
        self._fifo.append(job)
        cls.queued += 1
        self._active[id(cls)] = cls
        self._dirty[id(cls)] = (cls, _ANY)
        self._jobs[spec.id] = job
        if len(pools) == 1:
            p = pools[0]
            self.queued_cards_by_pool[p.idx] = self.queued_cards_by_pool.get(p.idx, 0) + spec.cards
        return None

    def _over_budget_alone(self, job: _Job, pools: tuple[_PoolRt, ...], quota: Quota) -> str | None:
        """Why a job can never fit its org's monthly budget, even alone in a fresh month (or None)."""
        cards = job.cards
        hours = min(cards * self.runtime_on(job, p) / 3600 for p in pools)
        if quota.monthly_card_hours is not None and hours > float(quota.monthly_card_hours):
            return (
                f"the job needs at least {hours:.1f} card-hours; {job.org}'s monthly budget is "
                f"{quota.monthly_card_hours} card-hours"
            )
        if quota.monthly_budget_yuan is not None:
            yuan = min(self.user_price(job, p) * cards * self.runtime_on(job, p) / 3600 for p in pools)
            if yuan > float(quota.monthly_budget_yuan.exact):
                return (
                    f"the job costs at least {yuan:.2f} yuan; {job.org}'s monthly budget is "
                    f"{quota.monthly_budget_yuan.round()} yuan"
                )
        return None

    def cancel(self, job_id: str) -> bool:
        """Take a queued job out of the queue (False if it is not queued here)."""
        job = self._jobs.get(job_id)
        if job is None:
            return False
        self._dequeue(job)
        return True

    def _dequeue(self, job: _Job) -> None:
        cls, bucket = job.cls, job.bucket
        assert cls is not None
        assert bucket is not None
        job.queued = False
        bucket.n -= 1
        cls.queued -= 1
        if not bucket.n:
            orgs = cls.by_size[job.spec.cards]
            del orgs[job.org if self.fair_share else ""]
            if not orgs:
                del cls.by_size[job.spec.cards]
                cls.sizes.remove(job.spec.cards)
        if not cls.queued:
            del self._active[id(cls)]
        self._drop_reservation(job)
        del self._jobs[job.spec.id]
        if len(job.pools) == 1:
            self.queued_cards_by_pool[job.pools[0].idx] -= job.spec.cards

    # ---- running state ---------------------------------------------------------------------------
    def occupy(self, pool_id: str, org: str, cards: int, end_s: int, seq: int = -1) -> None:
        """Record a job already running on a pool (used to rebuild state from plain values)."""
        p = self.by_id[pool_id]
        nc = p.node_cards(cards)
        if nc > p.free:
            raise ValidationError(
                f"{pool_id} has {p.free} free cards, cannot hold {cards} more", field="running"
            )
        p.free -= nc
        self.free_total -= nc
        insort(p.ends, (end_s, seq, nc))
        self._account(org, p, nc, +1)

    def finish(self, start: Start) -> None:
        """A started job ended (or was cut short): free its cards."""
        p = self.by_id[start.pool.id]
        entry = start.entry
        i = bisect_left(p.ends, entry)
        if i < len(p.ends) and p.ends[i] == entry:
            del p.ends[i]
        else:
            p.ends.remove(entry)
        p.free += entry[2]
        self.free_total += entry[2]
        self._account(start.job.org, p, entry[2], -1)
        if self.quotas:
            self.touch_all()  # the org's usage fell: its quota-held jobs in any class may go
        else:
            self._touch_pool(p)

    def _touch_pool(self, p: _PoolRt) -> None:
        """Classes using ``p`` get a look in the next pass (its free cards or reservation changed)."""
        for cls in p.classes:
            if cls.queued:
                seen = self._dirty.get(id(cls))
                if seen is None or seen[1] < p.free:
                    self._dirty[id(cls)] = (cls, p.free)

    def touch_all(self) -> None:
        """Every queued class gets a look in the next pass (a new month, a wake-up, a rebuild)."""
        self._dirty.update((k, (cls, _ANY)) for k, cls in self._active.items())

    def _account(self, org: str, p: _PoolRt, nc: int, sign: int) -> None:
        self.org_cards[org] = self.org_cards.get(org, 0) + sign * nc
        self.org_tflops[org] = self.org_tflops.get(org, 0.0) + sign * nc * p.tflops
        key = (org, p.model)
        self.org_model_cards[key] = self.org_model_cards.get(key, 0) + sign * nc

    def set_month_usage(self, org: str, usage: MonthUsage) -> None:
        self.month_yuan[org] = float(usage.yuan.exact)
        self.month_card_h[org] = float(usage.card_hours)

    def _roll_month(self, now: int) -> None:
        if self._month[1] <= now < self._month[2]:
            return
        local = dt.datetime.fromtimestamp(self.epoch_s + now + SHANGHAI_OFFSET_S, dt.UTC)
        first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        nxt = (first + dt.timedelta(days=32)).replace(day=1)
        start = int(first.timestamp()) - SHANGHAI_OFFSET_S - self.epoch_s
        end = int(nxt.timestamp()) - SHANGHAI_OFFSET_S - self.epoch_s
        if self._month[0] != -1:
            self.month_yuan.clear()
            self.month_card_h.clear()
            self.touch_all()
        self._month = (first.year * 12 + first.month, start, end)

    def month_end(self, now: int) -> int:
        """Start of the next Shanghai calendar month on the engine's axis (when budgets reset)."""
        self._roll_month(now)
        return self._month[2]

    # ---- the pass --------------------------------------------------------------------------------
    def _key(self, job: _Job, now: int) -> tuple[int, float, int, int]:
        """Priority (smallest first). FIFO queues: submit order. Fair share: jobs past the aging bound
        first, oldest first; then the smallest expected work (cards × run time), scaled up by how far
        the org is above its fair share of the province's throughput (1 + in use / share)."""
        if not self.fair_share or now - job.submit >= self.aging_s:
            return (0, 0.0, job.submit, job.seq)
        org = job.org
        target = self._fair.get(org) or self._fair_tflops(org)
        factor = 1.0 + self.org_tflops.get(org, 0.0) / target
        return (1, factor * job.cards * job.rt, job.submit, job.seq)

    def _fair_tflops(self, org: str) -> float:
        found = self._fair.get(org)
        if found is None:
            if org not in self.org_weights:
                self.org_weights[org] = 1.0
                self._fair.clear()
            total_w = sum(self.org_weights.values())
            found = self.total_tflops * self.org_weights[org] / total_w
            self._fair[org] = found
        return found

    def _quota_reason(self, job: _Job) -> str | None:
        quota = self.quotas.get(job.org)
        if quota is None:
            return None
        cards = job.spec.cards
        in_use = self.org_cards.get(job.org, 0)
        if quota.max_cards is not None and in_use + cards > quota.max_cards:
            return (
                f"quota: {job.org} uses {in_use} of {quota.max_cards} concurrent cards; "
                f"this job needs {cards} more"
            )
        if quota.monthly_budget_yuan is not None or quota.monthly_card_hours is not None:
            best_yuan = min(
                self.user_price(job, p) * cards * self.runtime_on(job, p) / 3600 for p in job.pools
            )
            best_h = min(cards * self.runtime_on(job, p) / 3600 for p in job.pools)
            if quota.monthly_budget_yuan is not None:
                cap = float(quota.monthly_budget_yuan.exact)
                spent = self.month_yuan.get(job.org, 0.0)
                if spent + best_yuan > cap:
                    self.budget_blocked = True
                    return (
                        f"budget: {job.org} has committed {spent:.2f} of {cap:.2f} yuan this month; "
                        f"this job costs at least {best_yuan:.2f}"
                    )
            if quota.monthly_card_hours is not None:
                cap_h = float(quota.monthly_card_hours)
                used = self.month_card_h.get(job.org, 0.0)
                if used + best_h > cap_h:
                    self.budget_blocked = True
                    return (
                        f"budget: {job.org} has used {used:.1f} of {cap_h:.1f} card-hours this month; "
                        f"this job needs {best_h:.1f}"
                    )
        return None

    def _model_ok(self, job: _Job, p: _PoolRt, nc: int) -> bool:
        if not self._by_model:
            return True
        quota = self.quotas.get(job.org)
        if quota is None or not quota.max_cards_by_model:
            return True
        cap = quota.max_cards_by_model.get(p.model)
        return cap is None or self.org_model_cards.get((job.org, p.model), 0) + nc <= cap

    def _reserve(self, job: _Job, now: int) -> _Reservation | None:
        """Promise ``job`` the pool (without a reservation) where it can start, and so finish, first."""
        best: tuple[int, int, int] | None = None
        best_pool: _PoolRt | None = None
        extra_at = 0
        for p in job.pools:
            nc = p.node_cards(job.cards)
            if p.res is not None or not self._model_ok(job, p, nc):
                continue
            shadow, extra = p.shadow(nc, now)
            cand = (shadow + self.runtime_on(job, p), shadow, p.idx)
            if best is None or cand < best:
                best, best_pool, extra_at = cand, p, extra
        if best is None or best_pool is None:
            return None
        res = _Reservation(job, best_pool, best[1], extra_at)
        best_pool.res = res
        job.res = res
        self._n_res += 1
        return res

    def _drop_reservation(self, job: _Job) -> None:
        res = job.res
        if res is not None:
            res.pool.res = None
            job.res = None
            self._n_res -= 1
            self._touch_pool(res.pool)

    def schedule(self, now: int) -> list[Start]:
        """Start every job that may start at ``now``; record why the others wait.

        Candidates are the heads of the (class, cards, org) queues that could fit somewhere, plus
        every reservation holder; a blocked candidate offers the shortest job behind it instead.
        Afterwards the oldest blocked jobs get reservations (EASY's head, up to ``max_reservations``).
        """
        started: list[Start] = []
        if not self._active:
            return started
        self._roll_month(now)
        self.budget_blocked = False
        aging = self.aging_s
        heap: list[tuple[tuple[int, float, int, int], int, _Job]] = []
        # EASY: the oldest jobs that cannot start are promised a start before anything backfills
        self._assign_reservations(now, set())
        for holder in self._holders():
            heap.append((self._key(holder, now), holder.seq, holder))
        dirty, self._dirty = self._dirty, {}
        if self.free_total > 0:
            for cls, limit in dirty.values():
                if not cls.queued:
                    continue
                mf = max(p.free for p in cls.pools) if limit == _ANY else limit
                for cards in cls.sizes:
                    if cards > mf:
                        break
                    for bucket in cls.by_size[cards].values():
                        head = bucket.head(now, aging)
                        heap.append((self._key(head, now), head.seq, head))
        heapq.heapify(heap)
        tried: set[int] = set()  # jobs already found blocked in this pass
        blocked: set[int] = set()  # buckets with a blocked job: offer their shortest job to backfill
        waiting: set[int] = set()  # jobs held for a reason other than capacity (no reservation for them)
        failed_rt: dict[tuple[int, int], int] = {}  # (class, cards) -> shortest run that did not fit
        while heap and self.free_total > 0:
            key, _s, job = heapq.heappop(heap)
            if not job.queued or job.seq in tried:
                continue
            fresh = self._key(job, now)
            if fresh != key and heap and fresh > heap[0][0]:
                heapq.heappush(heap, (fresh, job.seq, job))
                continue
            job_cls = job.cls
            assert job_cls is not None
            cls = job_cls
            cards = job.cards
            dominated = failed_rt.get((id(cls), cards))
            if dominated is not None and job.rt >= dominated and job.res is None:
                # as wide and as long as a job of the same class that did not fit: it cannot fit either
                self.reasons[job.spec.id] = ""
                self._offer_backfill(job, heap, tried, blocked, now, failed_rt)
                continue
            quota_reason = self._quota_reason(job)
            if quota_reason is not None:
                self.reasons[job.spec.id] = quota_reason
                waiting.add(job.seq)
                self._offer_backfill(job, heap, tried, blocked, now)
                continue
            ranked = self.ranking(self, job)
            order, cut = ranked if ranked is not None else (None, 0)
            pos = 0
            startable: list[_PoolRt] = []
            for p in cls.pools if order is None else order:
                pos += 1
                nc = cards if cards <= p.cpn else -(-cards // p.cpn) * p.cpn
                if nc > p.free:
                    continue
                res = p.res
                if res is not None and res.job is not job and nc > res.extra:
                    num, den = job.factors[p.idx]
                    if now - (-job.rt * den // num) > res.shadow:
                        continue
                if self._by_model and not self._model_ok(job, p, nc):
                    continue
                startable.append(p)
                if order is not None:
                    break  # pools come best first: the first that fits is the choice
            chosen: _PoolRt | None = None
            why = ""
            if startable:
                if order is None:
                    chosen, why = self.chooser(self, job, now, startable)
                elif pos <= cut:
                    chosen = startable[0]
                else:
                    chosen, why = self._overflow(job, order, now, startable[0])
            if chosen is None:
                if startable:  # it chose to wait for a better pool: not blocked
                    waiting.add(job.seq)
                else:
                    if not self._by_model and (dominated is None or job.rt < dominated):
                        failed_rt[(id(cls), cards)] = job.rt
                self.reasons[job.spec.id] = why  # "" = capacity: worded only when someone asks
                self._offer_backfill(job, heap, tried, blocked, now, failed_rt)
                continue
            freed = job.res.pool if job.res is not None and job.res.pool is not chosen else None
            started.append(self._start(job, chosen, now))
            if freed is not None and freed.free > 0:  # its reservation there is gone: others may use it
                self._push_heads(heap, freed, now)
            left = job.bucket
            if left is not None and left.n:
                nxt = left.head(now, aging)
                heapq.heappush(heap, (self._key(nxt, now), nxt.seq, nxt))
                if id(left) in blocked:
                    alt = left.shortest()
                    if alt is not nxt and alt.seq not in tried:
                        heapq.heappush(heap, (self._key(alt, now), alt.seq, alt))
        self._assign_reservations(now, waiting)
        return started

    def _push_heads(
        self, heap: list[tuple[tuple[int, float, int, int], int, _Job]], p: _PoolRt, now: int
    ) -> None:
        for cls in p.classes:
            if not cls.queued:
                continue
            for cards in cls.sizes:
                if cards > p.free:
                    break
                for bucket in cls.by_size[cards].values():
                    head = bucket.head(now, self.aging_s)
                    heapq.heappush(heap, (self._key(head, now), head.seq, head))

    def _holders(self) -> list[_Job]:
        return [p.res.job for p in self.pools if p.res is not None]

    def _blocked_reason(self, job: _Job, most: int | None = None) -> str:
        if job.res is not None:
            return (
                f"reserved {job.res.pool.pool.id} from t={job.res.shadow}s "
                f"(needs {job.cards} cards; later jobs may only backfill around it)"
            )
        if most is None:
            most = max(p.free for p in job.pools)
        return f"waiting for {job.cards} cards at once; the matching pools have at most {most} free"

    def hold_reasons(self) -> dict[str, str]:
        """Why every queued job waits (after the last pass), in one sweep over the queues."""
        out: dict[str, str] = {}
        reasons = self.reasons
        for cls in self._active.values():
            most = max(p.free for p in cls.pools)
            for orgs in cls.by_size.values():
                for org, bucket in orgs.items():
                    ahead = 0
                    for j in bucket.fifo:
                        if not j.queued:
                            continue
                        found = reasons.get(j.spec.id)
                        if found:
                            out[j.spec.id] = found
                        elif found is None and ahead:
                            out[j.spec.id] = (
                                f"queued behind {ahead} earlier jobs{' of ' + org if org else ''} "
                                "of the same size for the same pools"
                            )
                        else:
                            out[j.spec.id] = self._blocked_reason(j, most)
                        ahead += 1
        return out

    def _assign_reservations(self, now: int, waiting: set[int]) -> None:
        """Give the oldest jobs that cannot start a reservation each (EASY's head), up to the limit."""
        if self._n_res >= self.max_reservations:
            return
        fifo = self._fifo
        while fifo and not fifo[0].queued:
            fifo.popleft()
        if len(fifo) > 64 and len(fifo) > 2 * len(self._jobs):  # compact lazily deleted entries
            self._fifo = fifo = deque(j for j in fifo if j.queued)
        looked = 0
        for job in fifo:
            if not job.queued or job.res is not None:
                continue
            looked += 1
            if looked > 4 * self.max_reservations:
                break
            if job.seq in waiting or self._quota_reason(job) is not None:
                continue
            if any(self._fits_plain(job, p) for p in job.pools):
                continue  # it can start now (the next pass will take it): nothing to protect
            res = self._reserve(job, now)
            if res is not None:
                self.reasons[job.spec.id] = self._blocked_reason(job)
                if self._n_res >= self.max_reservations:
                    break

    def _fits_plain(self, job: _Job, p: _PoolRt) -> bool:
        nc = p.node_cards(job.cards)
        return nc <= p.free and p.res is None and self._model_ok(job, p, nc)

    def _overflow(
        self, job: _Job, order: tuple[_PoolRt, ...], now: int, pool: _PoolRt
    ) -> tuple[_PoolRt | None, str]:
        """Only pricier overflow pools are free: take one once the job has waited out its patience."""
        w = self.weights
        if w.patience_s <= 0 or now - job.submit >= self.aging_s:
            return pool, ""
        num, den = job.factors[order[0].idx]
        patience = min(w.patience_s, int(w.patience_ratio * -(-job.rt * den // num)))
        until = job.submit + patience
        if now >= until:
            return pool, ""
        if self.wake_at is None or until < self.wake_at:
            self.wake_at = until
        return None, (
            f"waiting until t={until}s for a pool at most {w.overflow_ratio}× the best price per work; "
            f"after that it takes {pool.pool.id}"
        )

    def _offer_backfill(
        self,
        job: _Job,
        heap: list[tuple[tuple[int, float, int, int], int, _Job]],
        tried: set[int],
        blocked: set[int],
        now: int,
        failed_rt: dict[tuple[int, int], int] | None = None,
    ) -> None:
        """``job`` cannot start: mark it, and offer the shortest job behind it in its bucket instead."""
        tried.add(job.seq)
        bucket = job.bucket
        if bucket is None or not bucket.n:
            return
        blocked.add(id(bucket))
        alt = bucket.shortest()
        if alt is job or alt.seq in tried:
            return
        if failed_rt is not None:
            bar = failed_rt.get((id(job.cls), alt.cards))
            if bar is not None and alt.rt >= bar:
                return  # no shorter than one that did not fit
        heapq.heappush(heap, (self._key(alt, now), alt.seq, alt))

    def _start(self, job: _Job, p: _PoolRt, now: int) -> Start:
        spec = job.spec
        nc = p.node_cards(spec.cards)
        est = self.runtime_on(job, p)
        backfilled = False
        res = p.res
        if res is not None and res.job is not job:
            backfilled = True
            if now + est > res.shadow:
                res.extra -= nc
        self._dequeue(job)
        self.reasons.pop(spec.id, None)
        end = now + self.true_runtime_on(spec, p.pool)
        p.free -= nc
        self.free_total -= nc
        entry = (now + est, job.seq, nc)
        insort(p.ends, entry)
        self._account(spec.org, p, nc, +1)
        hours = spec.cards * est / 3600
        self.month_yuan[spec.org] = self.month_yuan.get(spec.org, 0.0) + self.user_price(job, p) * hours
        self.month_card_h[spec.org] = self.month_card_h.get(spec.org, 0.0) + hours
        return Start(spec, p.pool, now, end, spec.cards, backfilled, entry)

    def hold_reason(self, job_id: str) -> str:
        """Why a queued job is waiting (after the last pass)."""
        found = self.reasons.get(job_id)
        job = self._jobs.get(job_id)
        if found:
            return found
        if job is None:
            return "not queued"
        if found == "":
            return self._blocked_reason(job)
        bucket = job.bucket
        ahead = bucket.position(job) if bucket is not None and bucket.n > 1 else 0
        if ahead:
            whose = f" of {job.org}" if self.fair_share else ""
            return f"queued behind {ahead} earlier jobs{whose} of the same size for the same pools"
        return self._blocked_reason(job)


# --------------------------------------------------------------------------------------------------
# Choosers: which pool, among those that can start the job now
# --------------------------------------------------------------------------------------------------


def rank_none(engine: QueueEngine, job: _Job) -> tuple[tuple[_PoolRt, ...], int] | None:
    """No static order: ask the chooser."""
    return None


def rank_fastest(engine: QueueEngine, job: _Job) -> tuple[tuple[_PoolRt, ...], int] | None:
    """Shortest scaled run time first (pooled-ideal); one pool's queue has just its pool."""
    assert job.cls is not None
    key = (id(job.cls), job.spec.reference)
    found = engine.rank_cache.get(key)
    if found is None:
        order = tuple(sorted(job.cls.pools, key=lambda p: (Fraction(*reversed(job.factors[p.idx])), p.idx)))
        found = engine.rank_cache[key] = (order, len(order))
    return found


def rank_zhisuan(engine: QueueEngine, job: _Job) -> tuple[tuple[_PoolRt, ...], int] | None:
    """Best score first: run time relative to the fastest matching pool, plus the user's price
    (after the voucher; none for self-use) relative to the cheapest. Data locality or waiting for a
    better pool depend on the job and the moment: those go to :func:`choose_zhisuan` instead."""
    spec = job.spec
    w = engine.weights
    if w.max_wait_s > 0 or spec.data_center is not None or spec.data_city is not None:
        return None
    assert job.cls is not None
    own = job.org if job.org in engine.operators else ""
    key = (id(job.cls), spec.reference, own)
    found = engine.rank_cache.get(key)
    if found is None:
        pools = job.cls.pools
        runs = {p.idx: job.factors[p.idx][1] / job.factors[p.idx][0] for p in pools}
        keep = 1.0 - engine.voucher
        costs = {
            p.idx: runs[p.idx] * (p.price_f if own and own == p.operator else p.price_f * keep) for p in pools
        }
        best_r = min(runs.values())
        best_c = min(costs.values()) or 1.0

        def score(p: _PoolRt) -> tuple[float, int]:
            return (w.finish * runs[p.idx] / best_r + w.price * costs[p.idx] / best_c, p.idx)

        order = tuple(sorted(pools, key=score))
        # the first pools, up to the first overflow one, are taken at once; the rest after patience
        cut = next((i for i, p in enumerate(order) if costs[p.idx] > w.overflow_ratio * best_c), len(order))
        found = engine.rank_cache[key] = (order, max(cut, 1))
    return found


def choose_first(
    engine: QueueEngine, job: _Job, now: int, startable: list[_PoolRt]
) -> tuple[_PoolRt | None, str]:
    """The only pool of a per-pool queue (early binding)."""
    return startable[0], ""


def choose_fastest(
    engine: QueueEngine, job: _Job, now: int, startable: list[_PoolRt]
) -> tuple[_PoolRt | None, str]:
    """Earliest finish among pools that can start it now (pooled-ideal)."""
    return min(startable, key=lambda p: (engine.runtime_on(job, p), p.idx)), ""


def choose_zhisuan(
    engine: QueueEngine, job: _Job, now: int, startable: list[_PoolRt]
) -> tuple[_PoolRt | None, str]:
    """Score every feasible pool by expected finish, user's price after voucher and data locality.

    A pool that cannot start the job now is considered with its expected start (the time enough
    of its running jobs end), so a job may wait briefly for a much faster or cheaper pool. A job
    that has waited past the aging bound, or holds a reservation, takes the best pool free now.
    """
    w = engine.weights
    spec = job.spec
    urgent = now - job.submit >= engine.aging_s or job.res is not None
    rt, factors, org, keep = job.rt, job.factors, job.org, 1.0 - engine.voucher
    options: list[tuple[_PoolRt, int, bool]] = [(p, now, True) for p in startable]
    if not urgent and w.max_wait_s > 0 and len(startable) < len(job.pools):
        for p in job.pools:
            if p in startable or p.res is not None:
                continue
            shadow, _extra = p.shadow(p.node_cards(job.cards), now)
            if shadow - now <= w.max_wait_s:
                options.append((p, shadow, False))
    finishes: list[float] = []
    costs: list[float] = []
    for p, start, _ok in options:
        num, den = factors[p.idx]
        run = -(-rt * den // num)
        finishes.append(start - now + run)
        costs.append(run * (p.price_f if org == p.operator else p.price_f * keep))
    best_f = max(1.0, min(finishes))
    best_c = min(costs) or 1.0
    best_score = float("inf")
    best: tuple[_PoolRt, int, bool] | None = None
    wf, wp = w.finish / best_f, w.price / best_c
    for (p, start, now_ok), fin, cost in zip(options, finishes, costs, strict=True):
        score = wf * fin + wp * cost
        if spec.data_center is not None:
            if p.center != spec.data_center:
                home_city = engine.center_city.get(spec.data_center, spec.data_city)
                score += w.other_center_same_city if p.city == home_city else w.other_city
        elif spec.data_city is not None and p.city != spec.data_city:
            score += w.other_city
        if score < best_score - 1e-12:
            best_score, best = score, (p, start, now_ok)
    assert best is not None
    p, start, now_ok = best
    if now_ok:
        return p, ""
    return None, (
        f"waiting for {p.pool.id}: expected to start in {start - now} s and finish sooner or cheaper "
        "than on the pools free now"
    )


# --------------------------------------------------------------------------------------------------
# Policies
# --------------------------------------------------------------------------------------------------


def _signature(spec: JobSpec) -> tuple[object, ...]:
    """What decides which pools can run a job (deadline aside): a cache key of plain, C-compared values."""
    c = spec.constraint
    return (c.models, c.min_memory_gb, c.domestic_only, spec.cards, spec.price_ceiling, spec.reference)


def _hash_unit(seed: int, text: str) -> float:
    digest = hashlib.sha256(f"{seed}:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    """A registered placement policy."""

    name: str
    late_binding: bool
    description: str


POLICIES: Final[Mapping[str, PolicyInfo]] = {
    "user-choice": PolicyInfo(
        "user-choice",
        False,
        "status quo: each organization sends all its work to one home center "
        "(seeded hash weighted by capacity)",
    ),
    "round-robin": PolicyInfo("round-robin", False, "early binding: the next feasible pool in turn"),
    "least-loaded": PolicyInfo(
        "least-loaded",
        False,
        "early binding: the feasible pool with the fewest running + queued cards per card",
    ),
    "pooled-ideal": PolicyInfo(
        "pooled-ideal", True, "reference: every pool as one cluster, FIFO + EASY backfill, fastest free pool"
    ),
    "zhisuan": PolicyInfo(
        "zhisuan",
        True,
        "late binding: expected finish, price after voucher, data locality, "
        "fair share with aging, EASY backfill",
    ),
}
DEFAULT_POLICY: Final = "zhisuan"


def policy_info(name: str) -> PolicyInfo:
    """The registered policy called ``name`` (or a NotFoundError listing them)."""
    found = POLICIES.get(name)
    if found is None:
        raise NotFoundError(f"no placement policy {name!r}; one of {', '.join(POLICIES)}", field="policy")
    return found


class Federation:
    """A policy at work over the province's pools: submit jobs, run passes, release finished jobs.

    Late-binding policies keep one platform queue over every pool; early-binding ones choose a pool
    at submission and each pool runs its own FIFO + EASY queue.
    """

    def __init__(
        self,
        policy: str,
        pools: Sequence[Pool],
        *,
        seed: int = 0,
        scaling: Scaling | None = None,
        voucher_rate: Decimal = DEFAULT_VOUCHER_RATE,
        quotas: Mapping[str, Quota] | None = None,
        org_weights: Mapping[str, float] | None = None,
        aging_s: int = DEFAULT_AGING_S,
        epoch_s: int = 0,
        weights: Weights | None = None,
        max_reservations: int = 1,
    ) -> None:
        self.info = policy_info(policy)
        self.pools = list(pools)
        if len({p.id for p in self.pools}) != len(self.pools):
            raise ValidationError("pool ids must be unique", field="pools")
        self.seed = seed
        self.scaling = scaling or Scaling()
        common = {
            "scaling": self.scaling,
            "voucher_rate": voucher_rate,
            "quotas": quotas,
            "org_weights": org_weights,
            "aging_s": aging_s,
            "epoch_s": epoch_s,
            "weights": weights,
            "max_reservations": max_reservations,
        }
        self.engines: list[QueueEngine]
        if self.info.late_binding:
            zs = policy == "zhisuan"
            self.engines = [
                QueueEngine(
                    self.pools,
                    fair_share=zs,
                    chooser=choose_zhisuan if zs else choose_fastest,
                    ranking=rank_zhisuan if zs else rank_fastest,
                    **common,  # type: ignore[arg-type]
                )
            ]
        else:
            self.engines = [
                QueueEngine([p], fair_share=False, chooser=choose_first, ranking=rank_fastest, **common)  # type: ignore[arg-type]
                for p in self.pools
            ]
        self._engine_of_pool = {
            p.id: self.engines[0 if self.info.late_binding else i] for i, p in enumerate(self.pools)
        }
        self._index_of_pool = {p.id: (0 if self.info.late_binding else i) for i, p in enumerate(self.pools)}
        self._engine_of_job: dict[str, QueueEngine] = {}
        self._rr = 0
        self._homes: dict[str, str] = {}
        self._feasible: dict[tuple[object, ...], list[int]] = {}
        self.dirty: set[int] = set()

    # ---- binding ---------------------------------------------------------------------------------
    def home_center(self, org: str) -> str:
        """user-choice: the org's home center, by a seeded hash weighted by center capacity (P)."""
        found = self._homes.get(org)
        if found is not None:
            return found
        caps: dict[str, Fraction] = {}
        for p in self.pools:
            caps[p.center] = caps.get(p.center, Fraction(0)) + Fraction(p.capacity_p)
        total = sum(caps.values(), Fraction(0))
        u = Fraction(_hash_unit(self.seed, org)) * total
        acc = Fraction(0)
        home = next(iter(caps))
        for center in sorted(caps):
            acc += caps[center]
            if u < acc:
                home = center
                break
        self._homes[org] = home
        return home

    def _bind(self, spec: JobSpec) -> tuple[int | None, str]:
        name = self.info.name
        sig = _signature(spec)
        cached = self._feasible.get(sig) if spec.deadline_s is None else None
        if cached is None:
            cached = [i for i, p in enumerate(self.pools) if pool_refusal(spec, p, self.scaling) is None]
            if spec.deadline_s is None:
                self._feasible[sig] = cached
        feasible = cached
        if name == "user-choice":
            home = self.home_center(spec.org)
            feasible = [i for i in feasible if self.pools[i].center == home]
            if not feasible:
                return None, f"its home center {home} has no pool that can run it (user-choice stays there)"
        if not feasible:
            return None, refusal_reason(spec, self.pools, self.scaling) or "no pool fits"
        if name == "round-robin":
            choice = feasible[self._rr % len(feasible)]
            self._rr += 1
            return choice, ""

        # least-loaded, and user-choice within the home center
        best, best_load = feasible[0], float("inf")
        for i in feasible:
            e = self.engines[i]
            p = e.pools[0]
            load = (p.cards - p.free + e.queued_cards_by_pool.get(0, 0)) / p.cards
            if load < best_load:
                best, best_load = i, load
        return best, ""

    def submit(self, spec: JobSpec) -> str | None:
        """Queue a job; the reason it can never run under this policy, or None."""
        if self.info.late_binding:
            reason = self.engines[0].submit(spec)
            if reason is None:
                self._engine_of_job[spec.id] = self.engines[0]
                self.dirty.add(0)
            return reason
        idx, why = self._bind(spec)
        if idx is None:
            return why
        reason = self.engines[idx].submit(spec)
        if reason is None:
            self._engine_of_job[spec.id] = self.engines[idx]
            self.dirty.add(idx)
        return reason

    def cancel(self, job_id: str) -> bool:
        engine = self._engine_of_job.pop(job_id, None)
        return engine is not None and engine.cancel(job_id)

    def schedule(self, now: int, *, everything: bool = False) -> list[Start]:
        """Run a pass on every queue whose pools or queue changed since the last pass."""
        todo = range(len(self.engines)) if everything else sorted(self.dirty)
        out: list[Start] = []
        for i in todo:
            if everything:
                self.engines[i].touch_all()
            started = self.engines[i].schedule(now)
            for s in started:
                self._engine_of_job.pop(s.job.id, None)
            out.extend(started)
        self.dirty.clear()
        return out

    def finish(self, start: Start) -> None:
        """A started job ended: free its cards and mark its queue for the next pass."""
        engine = self._engine_of_pool[start.pool.id]
        engine.finish(start)
        self.dirty.add(self._index_of_pool[start.pool.id])

    def engine_for_pool(self, pool_id: str) -> QueueEngine:
        return self._engine_of_pool[pool_id]

    @property
    def queued(self) -> int:
        return sum(e.queued for e in self.engines)

    def hold_reason(self, job_id: str) -> str:
        engine = self._engine_of_job.get(job_id)
        return engine.hold_reason(job_id) if engine is not None else "not queued"

    def budget_blocked(self) -> bool:
        return any(e.budget_blocked for e in self.engines)

    def take_wake(self) -> int | None:
        """The earliest time a waiting job wants another pass (and forget it: it is now scheduled)."""
        times = [e.wake_at for e in self.engines if e.wake_at is not None]
        for e in self.engines:
            e.wake_at = None
        return min(times) if times else None


class Scheduler:
    """Placement over plain values, for a database-backed dispatcher.

    ``decide(queue, pool_states, now)`` rebuilds the queues, runs one pass and answers one decision
    per queued job: a :class:`Placement` to carry out, or a :class:`Hold` with the reason.
    """

    def __init__(
        self,
        policy: str = DEFAULT_POLICY,
        *,
        seed: int = 0,
        scaling: Scaling | None = None,
        voucher_rate: Decimal = DEFAULT_VOUCHER_RATE,
        quotas: Mapping[str, Quota] | None = None,
        org_weights: Mapping[str, float] | None = None,
        aging_s: int = DEFAULT_AGING_S,
        epoch_s: int = 0,
        weights: Weights | None = None,
        max_reservations: int = 1,
    ) -> None:
        policy_info(policy)
        self.policy = policy
        self.options: dict[str, object] = {
            "seed": seed,
            "scaling": scaling,
            "voucher_rate": voucher_rate,
            "quotas": quotas,
            "org_weights": org_weights,
            "aging_s": aging_s,
            "epoch_s": epoch_s,
            "weights": weights,
            "max_reservations": max_reservations,
        }

    def decide(
        self,
        queue: Sequence[JobSpec],
        pool_states: Sequence[PoolState],
        now: int,
        month_usage: Mapping[str, MonthUsage] | None = None,
    ) -> list[Decision]:
        """One decision per job of ``queue`` (in queue order)."""
        fed = Federation(self.policy, [s.pool for s in pool_states], **self.options)  # type: ignore[arg-type]
        for state in pool_states:
            engine = fed.engine_for_pool(state.pool.id)
            for r in state.running:
                engine.occupy(state.pool.id, r.org, r.cards, max(r.end_s, now))
        for engine in fed.engines:
            engine._roll_month(now)
            for org, usage in (month_usage or {}).items():
                engine.set_month_usage(org, usage)
        refused: dict[str, str] = {}
        for job in sorted(queue, key=lambda j: (j.submit_s, j.id)):
            reason = fed.submit(job)
            if reason is not None:
                refused[job.id] = reason
        placed = {s.job.id: s for s in fed.schedule(now, everything=True)}
        reasons: dict[str, str] = {}
        for engine in fed.engines:
            reasons.update(engine.hold_reasons())
        out: list[Decision] = []
        for job in queue:
            if job.id in refused:
                out.append(Hold(job.id, f"unrunnable: {refused[job.id]}", unrunnable=True))
            elif job.id in placed:
                s = placed[job.id]
                end = s.start_s + fed.engine_for_pool(s.pool.id).true_runtime_on(s.job, s.pool)
                out.append(Placement(job.id, s.pool.id, s.start_s, end, s.cards, s.backfilled))
            else:
                out.append(Hold(job.id, reasons.get(job.id) or fed.hold_reason(job.id)))
        return out


def policy_names() -> list[str]:
    return list(POLICIES)


__all__ = [
    "DEFAULT_AGING_S",
    "DEFAULT_POLICY",
    "DEFAULT_VOUCHER_RATE",
    "POLICIES",
    "Decision",
    "Federation",
    "Hold",
    "MonthUsage",
    "Placement",
    "PolicyInfo",
    "PoolState",
    "QueueEngine",
    "Quota",
    "RunningJob",
    "Scheduler",
    "Start",
    "Weights",
    "policy_info",
    "policy_names",
]
