"""The queue engine's runtime structures: mutable, index-based, slotted (this is the hot path)."""

from __future__ import annotations

import heapq
import math
from collections import deque
from typing import Final

from zhisuan.compute.model import JobSpec, Pool

#: "look at every queued size" in a class's dirty mark
ANY: Final = 1 << 62


def signature(spec: JobSpec) -> tuple[object, ...]:
    """What decides which pools can run a job (deadline aside): a cache key of plain, C-compared values."""
    c = spec.constraint
    return (c.models, c.min_memory_gb, c.domestic_only, spec.cards, spec.price_ceiling, spec.reference)


class Reservation:
    """EASY's promise: ``job`` starts on ``pool`` at ``shadow``; ``extra`` cards are spare then."""

    __slots__ = ("extra", "job", "kind", "pool", "shadow")

    def __init__(self, job: Job, pool: PoolRt, shadow: int, extra: int, kind: str = "head") -> None:
        self.job = job
        self.pool = pool
        self.shadow = shadow
        self.extra = extra
        #: "head" (EASY: the oldest waiting jobs), "lead" (the best-priority blocked job),
        #: "better" (a job waiting for a pool where it finishes sooner or cheaper than on one free now)
        self.kind = kind


class PoolRt:
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
        self.res: Reservation | None = None
        self.classes: list[Class] = []  # the feasibility classes that include this pool

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


class Job:
    """A queued job with its per-pool run-time factors, class and bucket."""

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
        self.pools: tuple[PoolRt, ...] = ()
        self.cls: Class | None = None
        self.bucket: Bucket | None = None
        self.queued = True
        self.res: Reservation | None = None


def run_estimate(job: Job, pool: PoolRt) -> int:
    """Scaled run time (estimate) of ``job`` on ``pool`` in whole seconds."""
    num, den = job.factors[pool.idx]
    return -(-job.rt * den // num)


def aged_log_work(cards: int, rt: int, submit: int, halving_s: int) -> float:
    """log2 of a job's expected work (cards × run time), plus one per ``halving_s`` before its submission.

    Ordering by it is shortest-expected-work first in which every ``halving_s`` of waiting counts
    as halving the work; the order of two queued jobs never changes with time (both age alike).
    """
    return math.log2(cards * rt) + submit / halving_s


class Bucket:
    """Queued jobs of one org, one size, one class: FIFO, plus shortest-first when asked.

    Under shortest-first the bucket offers the job with the least aged work (:func:`aged_log_work`)
    and, to backfill, its shortest job (by request: see :meth:`push`). Removal is lazy (a job's
    ``queued`` flag); ``n`` counts the jobs really queued.
    """

    __slots__ = ("fifo", "halving_s", "n", "prio", "short", "shortest_first")

    def __init__(self, shortest_first: bool, halving_s: int = 0) -> None:
        self.fifo: deque[Job] = deque()
        self.short: list[tuple[int, int, Job]] = []
        self.prio: list[tuple[float, int, Job]] = []
        self.shortest_first = shortest_first
        self.halving_s = halving_s
        self.n = 0

    def push(self, job: Job) -> None:
        self.fifo.append(job)
        # keyed by the request: one bucket holds one organization's jobs, whose estimates are its
        # requests times one factor (``RunTimeHistory``), so the order is the same and stays valid
        # when that factor changes
        rt = job.spec.runtime_s
        heapq.heappush(self.short, (rt, job.seq, job))
        if self.shortest_first and self.halving_s > 0:
            key = aged_log_work(job.cards, rt, job.submit, self.halving_s)
            heapq.heappush(self.prio, (key, job.seq, job))
        self.n += 1

    def shortest(self) -> Job:
        """The queued job with the shortest estimate: the best backfill candidate of this bucket."""
        short = self.short
        while not short[0][2].queued:
            heapq.heappop(short)
        return short[0][2]

    def head(self) -> Job:
        """The job this bucket offers next: the least aged work under shortest-first, else the oldest."""
        if self.shortest_first:
            prio = self.prio
            if not prio:
                return self.shortest()
            while not prio[0][2].queued:
                heapq.heappop(prio)
            return prio[0][2]
        fifo = self.fifo
        while not fifo[0].queued:
            fifo.popleft()
        return fifo[0]

    def position(self, job: Job) -> int:
        """How many queued jobs of this bucket were submitted before ``job``."""
        return sum(1 for j in self.fifo if j.queued and j.seq < job.seq)


class Class:
    """Jobs that fit exactly the same pools; queued as FIFOs keyed by (cards, org)."""

    __slots__ = ("by_size", "pools", "queued", "sizes")

    def __init__(self, pools: tuple[PoolRt, ...]) -> None:
        self.pools = pools
        self.by_size: dict[int, dict[str, Bucket]] = {}  # cards -> org -> bucket (non-empty only)
        self.sizes: list[int] = []  # the keys of by_size, ascending
        self.queued = 0
