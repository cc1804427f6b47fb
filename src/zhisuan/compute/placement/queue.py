"""The queue engine: one queue over a set of pools with priority order, gang starts and EASY backfill.

The oldest job that cannot start holds a reservation on one pool (``max_reservations``, default one),
with its *shadow time*; later jobs start there only if they end by then or fit in the cards left over
at the shadow time (the promises themselves are kept by ``reservations.Reservations``; which jobs
get one is decided here). Queued jobs are indexed by feasibility class (the exact set of pools that
can run them), cards and — under fair share — organization, so a pass looks at queue heads of the
classes whose pools changed, never at every job.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, Protocol

from zhisuan.compute.model import JobSpec, Pool, Refusal, Scaling, pool_refusal, refusal_reason
from zhisuan.compute.placement._runtime import (
    ANY,
    Bucket,
    Class,
    Job,
    PoolRt,
    run_estimate,
    signature,
)
from zhisuan.compute.placement.commitments import Commitments
from zhisuan.compute.placement.estimates import RunTimeHistory
from zhisuan.compute.placement.reservations import Reservations
from zhisuan.compute.placement.values import (
    DEFAULT_AGING_S,
    NOT_QUEUED,
    HoldKind,
    HoldReason,
    MonthUsage,
    NotEnoughCards,
    NoVoucher,
    Patience,
    QueuedBehind,
    Quota,
    Reserved,
    Start,
    VoucherEstimate,
    Weights,
)
from zhisuan.core.errors import ValidationError


class Ranking(Protocol):
    """Pools of a job's class best first, when the order does not depend on the moment (else None)."""

    def __call__(self, engine: QueueEngine, job: Job, now: int) -> tuple[tuple[PoolRt, ...], int] | None: ...


class Chooser(Protocol):
    """Picks the pool for a job the pass is about to place; None = keep it waiting (with a reason)."""

    def __call__(
        self, engine: QueueEngine, job: Job, now: int, startable: list[PoolRt]
    ) -> tuple[PoolRt | None, HoldReason | None]: ...


class PassOver(Protocol):
    """Whether a job passes over the pool just chosen for it and waits: why (None = it starts)."""

    def __call__(self, engine: QueueEngine, job: Job, now: int, chosen: PoolRt) -> HoldReason | None: ...


#: the refusal when refusal_reason finds no cause (it always should: a safety net)
NO_FIT: Final = Refusal("job", "no pool fits")
_UNSEEN: Final = HoldReason(HoldKind.CAPACITY, NotEnoughCards(0, 0))  # "not looked at" marker


def rank_none(engine: QueueEngine, job: Job, now: int) -> tuple[tuple[PoolRt, ...], int] | None:
    """No static order: ask the chooser."""
    return None


class QueueEngine:
    """One queue in front of a set of pools: priority order, gang starts, EASY backfill, quotas."""

    def __init__(
        self,
        pools: Sequence[Pool],
        *,
        fair_share: bool,
        chooser: Chooser,
        ranking: Ranking | None = None,
        pass_over: PassOver | None = None,
        scaling: Scaling | None = None,
        vouchers: VoucherEstimate | None = None,
        quotas: Mapping[str, Quota] | None = None,
        org_weights: Mapping[str, float] | None = None,
        aging_s: int = DEFAULT_AGING_S,
        epoch_s: int = 0,
        weights: Weights | None = None,
        max_reservations: int = 1,
        history: RunTimeHistory | None = None,
        priority_weights: Mapping[str, float] | None = None,
    ) -> None:
        self.pools = [PoolRt(i, p) for i, p in enumerate(pools)]
        #: run-time estimates from each organization's history (fair share, i.e. ``zhisuan``, only)
        self.history = history if fair_share else None
        self._applied: dict[str, float] = {}  # per org, the history's factor its queued jobs carry
        self.max_reservations = max_reservations
        self._fifo: deque[Job] = deque()
        # classes whose pools or queue changed since the last pass, with the most free cards on a pool
        # that changed (only jobs that narrow can have become startable); ANY = look at everything
        self._dirty: dict[int, tuple[Class, int]] = {}
        self.by_id = {p.pool.id: p for p in self.pools}
        self.fair_share = fair_share
        self.chooser = chooser
        self.ranking: Ranking = ranking or rank_none
        self.pass_over = pass_over
        self.scaling = scaling or Scaling()
        self.aging_s = aging_s
        self.epoch_s = epoch_s
        self.weights = weights or Weights()
        self._classes: dict[tuple[int, ...], Class] = {}
        self._active: dict[int, Class] = {}  # id(cls) -> cls with queued jobs
        self._jobs: dict[str, Job] = {}
        self._seq = 0
        self._speed: dict[tuple[str, str], tuple[int, int]] = {}
        self.commit = Commitments(
            self.pools,
            vouchers=vouchers or NoVoucher(),
            quotas=quotas or {},
            org_weights=org_weights or {},
            fair_share=fair_share,
            aging_s=aging_s,
            epoch_s=epoch_s,
            halving_s=self.weights.age_halving_s,
            priority_weights=priority_weights,
        )
        self._key = self.commit.priority
        self.res = Reservations(self.pools, self.commit, self.weights, touch=self._touch_pool)
        # None: blocked on capacity (worded only when someone asks); absent: not looked at this pass
        self.reasons: dict[str, HoldReason | None] = {}
        self.queued_cards_by_pool: dict[int, int] = {}
        self.free_total = sum(p.cards for p in self.pools)
        # per policy key, pools in the policy's order and a cut (rankings; pass-over keeps its dominating
        # pools here too, keyed apart): they depend on the pools and prices, not on the moment
        self.rank_cache: dict[tuple[object, ...], tuple[tuple[PoolRt, ...], int]] = {}
        self.wake_at: int | None = None  # when a job waiting out its patience should look again
        self._factor_cache: dict[str, list[tuple[int, int]]] = {}
        self._class_cache: dict[tuple[object, ...], tuple[PoolRt, ...]] = {}
        self._class_keys: dict[tuple[PoolRt, ...], tuple[int, ...]] = {}
        self._by_model = self.commit.by_model
        self.center_city = {p.center: p.city for p in self.pools}

    # ---- queries ---------------------------------------------------------------------------------
    @property
    def queued(self) -> int:
        return len(self._jobs)

    def queued_jobs(self) -> Iterable[JobSpec]:
        return (j.spec for j in self._jobs.values())

    def runtime_on(self, job: Job, pool: PoolRt) -> int:
        """Scaled run time (estimate) of ``job`` on ``pool`` in whole seconds."""
        return run_estimate(job, pool)

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

    @property
    def budget_blocked(self) -> bool:
        """Whether the last pass held a job on a monthly budget (the next month may start it)."""
        return self.commit.budget_blocked

    # ---- submission ------------------------------------------------------------------------------
    def submit(self, spec: JobSpec) -> Refusal | None:
        """Queue a job; return why if no pool here can ever run it (then it is not queued)."""
        if spec.id in self._jobs:
            raise ValidationError(f"job {spec.id!r} is already queued", field="id")
        sig = signature(spec)
        cached = self._class_cache.get(sig) if spec.deadline_s is None else None
        if cached is None:
            cached = tuple(p for p in self.pools if pool_refusal(spec, p.pool, self.scaling) is None)
            if spec.deadline_s is None:
                self._class_cache[sig] = cached
        pools = cached
        if not pools:
            return refusal_reason(spec, [p.pool for p in self.pools], self.scaling) or NO_FIT
        pools, refused = self.commit.admit(spec, pools)
        if refused is not None:
            return refused
        job = Job(spec, self._seq, self._factors(spec.reference))
        if self.history is not None:
            job.rt = self.history.estimate(spec.org, spec.runtime_s)
            self._applied.setdefault(spec.org, self.history.ratio(spec.org))
        refused = self.commit.over_budget_alone(job, pools)
        if refused is not None:
            return refused
        self._seq += 1
        key = self._class_keys.get(pools)
        if key is None:
            key = self._class_keys[pools] = tuple(p.idx for p in pools)
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = Class(pools)
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
            bucket = orgs[okey] = Bucket(self.fair_share, self.weights.age_halving_s)
        bucket.push(job)
        job.bucket = bucket
        self._fifo.append(job)
        cls.queued += 1
        self._active[id(cls)] = cls
        self._dirty[id(cls)] = (cls, ANY)
        self._jobs[spec.id] = job
        if len(pools) == 1:
            p = pools[0]
            self.queued_cards_by_pool[p.idx] = self.queued_cards_by_pool.get(p.idx, 0) + spec.cards
        return None

    def cancel(self, job_id: str) -> bool:
        """Take a queued job out of the queue (False if it is not queued here)."""
        job = self._jobs.get(job_id)
        if job is None:
            return False
        self._dequeue(job)
        return True

    def _dequeue(self, job: Job) -> None:
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
        self.res.drop(job)
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
        self.commit.account(org, p, nc, +1)

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
        self.commit.account(start.job.org, p, entry[2], -1)
        if self.commit.quotas:
            self.touch_all()  # the org's usage fell: its quota-held jobs in any class may go
        else:
            self._touch_pool(p)

    def _touch_pool(self, p: PoolRt) -> None:
        """Classes using ``p`` get a look in the next pass (its free cards or reservation changed)."""
        for cls in p.classes:
            if cls.queued:
                seen = self._dirty.get(id(cls))
                if seen is None or seen[1] < p.free:
                    self._dirty[id(cls)] = (cls, p.free)

    def touch_all(self) -> None:
        """Every queued class gets a look in the next pass (a new month, a wake-up, a rebuild)."""
        self._dirty.update((k, (cls, ANY)) for k, cls in self._active.items())

    def set_month_usage(self, org: str, usage: MonthUsage) -> None:
        """What ``org`` has already committed this month (from outside the engine)."""
        self.commit.set_month_usage(org, usage)

    def roll_month(self, now: int) -> None:
        """Enter the Shanghai month of ``now`` (a new month resets budgets: every queue gets a look)."""
        if self.commit.roll_month(now):
            self.touch_all()

    def month_end(self, now: int) -> int:
        """Start of the next Shanghai calendar month on the engine's axis (when budgets reset)."""
        self.roll_month(now)
        return self.commit.month[2]

    # ---- the pass --------------------------------------------------------------------------------
    def _reestimate(self) -> None:
        """Queued jobs of an organization whose history's factor changed take the new estimate (all
        of them at once, so that its jobs queued before and after the change compare alike)."""
        history = self.history
        assert history is not None
        changed = {org for org, r in self._applied.items() if history.ratio(org) != r}
        if not changed:
            return
        for org in changed:
            self._applied[org] = history.ratio(org)
        for job in self._jobs.values():
            if job.org in changed:
                job.rt = history.estimate(job.org, job.spec.runtime_s)
        self.touch_all()

    def schedule(self, now: int) -> list[Start]:
        """Start every job that may start at ``now``; record why the others wait.

        Candidates are the heads of the (class, cards, org) queues that could fit somewhere, plus
        every reservation holder; a blocked candidate offers the shortest job behind it instead.
        Afterwards the oldest blocked jobs get reservations (EASY's head, up to ``max_reservations``).
        """
        started: list[Start] = []
        if not self._active:
            return started
        self.roll_month(now)
        if self.history is not None:
            self._reestimate()
        self.commit.budget_blocked = False
        heap: list[tuple[tuple[int, float, int, int], int, Job]] = []
        # EASY: the oldest jobs that cannot start are promised a start before anything backfills
        self._assign_reservations(now, set())
        for holder in self.res.holders():
            heap.append((self._key(holder, now), holder.seq, holder))
        dirty, self._dirty = self._dirty, {}
        if self.free_total > 0:
            for cls, limit in dirty.values():
                if not cls.queued:
                    continue
                mf = max(p.free for p in cls.pools) if limit == ANY else limit
                for cards in cls.sizes:
                    if cards > mf:
                        break
                    for bucket in cls.by_size[cards].values():
                        head = bucket.head()
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
                self.reasons[job.spec.id] = None
                self._offer_backfill(job, heap, tried, blocked, now, failed_rt)
                continue
            quota_reason = self.commit.block(job, now)
            if quota_reason is not None:
                self.reasons[job.spec.id] = quota_reason
                waiting.add(job.seq)
                self._offer_backfill(job, heap, tried, blocked, now)
                continue
            ranked = self.ranking(self, job, now)
            order, cut = ranked if ranked is not None else (None, 0)
            pos = 0
            startable: list[PoolRt] = []
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
                if self._by_model and not self.commit.model_ok(job, p, nc):
                    continue
                startable.append(p)
                if order is not None:
                    break  # pools come best first: the first that fits is the choice
            chosen: PoolRt | None = None
            why: HoldReason | None = None
            if startable:
                if order is None:
                    chosen, why = self.chooser(self, job, now, startable)
                elif pos <= cut:
                    chosen = startable[0]
                else:
                    chosen, why = self._overflow(job, order, now, startable[0])
            if chosen is not None and self.pass_over is not None:
                passed = self.pass_over(self, job, now, chosen)
                if passed is not None:
                    chosen, why = None, passed
            if chosen is not None and self.fair_share and self.weights.better_gain > 0:
                better = self.res.better_pool(job, chosen, now)
                if better is not None:
                    chosen, why = None, self._blocked_reason(job)
            if chosen is None:
                if startable:  # it chose to wait for a better pool: not blocked
                    waiting.add(job.seq)
                else:
                    if not self._by_model and (dominated is None or job.rt < dominated):
                        failed_rt[(id(cls), cards)] = job.rt
                self.reasons[job.spec.id] = why  # None = capacity: worded only when someone asks
                self._offer_backfill(job, heap, tried, blocked, now, failed_rt)
                continue
            held = job.res.pool if job.res is not None else None
            started.append(self._start(job, chosen, now))
            if held is not None:
                # its reservation is gone: jobs it held back may start now, on that pool or this one
                tried.clear()
                failed_rt.clear()
                for p in {held, chosen}:
                    if p.free > 0:
                        self._push_heads(heap, p, now)
            left = job.bucket
            if left is not None and left.n:
                nxt = left.head()
                heapq.heappush(heap, (self._key(nxt, now), nxt.seq, nxt))
                if id(left) in blocked:
                    alt = left.shortest()
                    if alt is not nxt and alt.seq not in tried:
                        heapq.heappush(heap, (self._key(alt, now), alt.seq, alt))
        self._assign_reservations(now, waiting)
        return started

    def _push_heads(
        self, heap: list[tuple[tuple[int, float, int, int], int, Job]], p: PoolRt, now: int
    ) -> None:
        for cls in p.classes:
            if not cls.queued:
                continue
            for cards in cls.sizes:
                if cards > p.free:
                    break
                for bucket in cls.by_size[cards].values():
                    head = bucket.head()
                    heapq.heappush(heap, (self._key(head, now), head.seq, head))

    def _blocked_reason(self, job: Job, most: int | None = None) -> HoldReason:
        if job.res is not None:
            res = job.res
            return HoldReason(HoldKind.RESERVED, Reserved(res.pool.pool.id, job.cards), res.shadow)
        if most is None:
            most = max(p.free for p in job.pools)
        return HoldReason(HoldKind.CAPACITY, NotEnoughCards(job.cards, most))

    def hold_reasons(self) -> dict[str, HoldReason]:
        """Why every queued job waits (after the last pass), in one sweep over the queues."""
        out: dict[str, HoldReason] = {}
        reasons = self.reasons
        for cls in self._active.values():
            most = max(p.free for p in cls.pools)
            for orgs in cls.by_size.values():
                for org, bucket in orgs.items():
                    ahead = 0
                    for j in bucket.fifo:
                        if not j.queued:
                            continue
                        found = reasons.get(j.spec.id, _UNSEEN)
                        if found is not None and found is not _UNSEEN:
                            out[j.spec.id] = found
                        elif found is _UNSEEN and ahead:
                            out[j.spec.id] = HoldReason(HoldKind.CAPACITY, QueuedBehind(ahead, org))
                        else:
                            out[j.spec.id] = self._blocked_reason(j, most)
                        ahead += 1
        return out

    def _assign_reservations(self, now: int, waiting: set[int]) -> None:
        """Give the oldest jobs that cannot start a reservation each (EASY's head), up to the limit.

        Under fair share the oldest are only those past the aging bound, and the best-priority job
        that cannot start gets one more reservation of its own (so gang jobs are not starved by the
        small jobs that fill every freed card)."""
        if self.fair_share and self.res.n_lead < self.weights.lead_reservations:
            self._reserve_lead(now, waiting)
        if self.res.n_head >= self.max_reservations:
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
            if job.seq in waiting or self.commit.block(job, now) is not None:
                continue
            if any(self.res.fits_plain(job, p) for p in job.pools):
                continue  # it can start now (the next pass will take it): nothing to protect
            res = self.res.reserve(job, now)
            if res is not None:
                self.reasons[job.spec.id] = self._blocked_reason(job)
                if self.res.n_head >= self.max_reservations:
                    break

    def _reserve_lead(self, now: int, waiting: set[int]) -> None:
        """Reserve for the best-priority gang jobs (more than one card) that cannot start now."""
        heads: list[tuple[tuple[int, float, int, int], Job]] = []
        for cls in self._active.values():
            for cards, orgs in cls.by_size.items():
                if cards < 2:
                    continue
                for bucket in orgs.values():
                    job = bucket.head()
                    if job.res is not None or job.seq in waiting:
                        continue
                    heads.append((self._key(job, now), job))
        heads.sort(key=lambda kj: kj[0])
        for _key, job in heads:
            if self.res.n_lead >= self.weights.lead_reservations:
                return
            if self.commit.block(job, now) is not None or any(self.res.fits_plain(job, p) for p in job.pools):
                continue
            if self.res.reserve(job, now, kind="lead") is not None:
                self.reasons[job.spec.id] = self._blocked_reason(job)

    def _overflow(
        self, job: Job, order: tuple[PoolRt, ...], now: int, pool: PoolRt
    ) -> tuple[PoolRt | None, HoldReason | None]:
        """Only pricier overflow pools are free: take one once the job has waited out its patience."""
        w = self.weights
        if w.patience_s <= 0 or now - job.submit >= self.aging_s:
            return pool, None
        num, den = job.factors[order[0].idx]
        patience = min(w.patience_s, int(w.patience_ratio * -(-job.rt * den // num)))
        until = job.submit + patience
        if now >= until:
            return pool, None
        if self.wake_at is None or until < self.wake_at:
            self.wake_at = until
        return None, HoldReason(HoldKind.CAPACITY, Patience(w.overflow_ratio, pool.pool.id), until)

    def _offer_backfill(
        self,
        job: Job,
        heap: list[tuple[tuple[int, float, int, int], int, Job]],
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

    def _start(self, job: Job, p: PoolRt, now: int) -> Start:
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
        self.commit.started(job, p, nc, est, now)
        return Start(spec, p.pool, now, end, spec.cards, backfilled, entry)

    def hold_reason(self, job_id: str) -> HoldReason:
        """Why a queued job is waiting (after the last pass)."""
        found = self.reasons.get(job_id, _UNSEEN)
        job = self._jobs.get(job_id)
        if found is not None and found is not _UNSEEN:
            return found
        if job is None:
            return NOT_QUEUED
        if found is None:
            return self._blocked_reason(job)
        bucket = job.bucket
        ahead = bucket.position(job) if bucket is not None and bucket.n > 1 else 0
        if ahead:
            return HoldReason(HoldKind.CAPACITY, QueuedBehind(ahead, job.org if self.fair_share else ""))
        return self._blocked_reason(job)


__all__ = ["NO_FIT", "PassOver", "QueueEngine", "rank_none"]
