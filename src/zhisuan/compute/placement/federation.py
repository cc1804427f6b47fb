"""A policy at work over the province's pools (:class:`Federation`), and the same over plain values
for a database-backed dispatcher (:class:`Scheduler`)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from fractions import Fraction

from zhisuan.compute.model import JobSpec, Pool, Refusal, Scaling, pool_refusal, refusal_reason
from zhisuan.compute.placement._runtime import signature
from zhisuan.compute.placement.estimates import RunTimeHistory
from zhisuan.compute.placement.policies import (
    DEFAULT_POLICY,
    choose_fastest,
    choose_first,
    choose_zhisuan,
    pass_over_dominated,
    policy_info,
    rank_fastest,
    rank_zhisuan,
)
from zhisuan.compute.placement.queue import NO_FIT, QueueEngine
from zhisuan.compute.placement.values import (
    DEFAULT_AGING_S,
    NOT_QUEUED,
    Decision,
    Hold,
    HoldKind,
    HoldReason,
    MonthUsage,
    Placement,
    PoolState,
    Quota,
    Start,
    Unrunnable,
    VoucherEstimate,
    Weights,
)
from zhisuan.core.errors import ValidationError


def _hash_unit(seed: int, text: str) -> float:
    digest = hashlib.sha256(f"{seed}:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


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
        self.info = policy_info(policy)
        self.pools = list(pools)
        if len({p.id for p in self.pools}) != len(self.pools):
            raise ValidationError("pool ids must be unique", field="pools")
        self.seed = seed
        self.scaling = scaling or Scaling()
        common = {
            "scaling": self.scaling,
            "vouchers": vouchers,
            "quotas": quotas,
            "org_weights": org_weights,
            "aging_s": aging_s,
            "epoch_s": epoch_s,
            "weights": weights,
            "max_reservations": max_reservations,
            "history": history,
            "priority_weights": priority_weights,
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
                    pass_over=pass_over_dominated if zs else None,
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

    def _bind(self, spec: JobSpec) -> tuple[int | None, Refusal | None]:
        name = self.info.name
        sig = signature(spec)
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
                why = f"its home center {home} has no pool that can run it (user-choice stays there)"
                return None, Refusal("job", why)
        if not feasible:
            return None, refusal_reason(spec, self.pools, self.scaling) or NO_FIT
        if name == "round-robin":
            choice = feasible[self._rr % len(feasible)]
            self._rr += 1
            return choice, None

        # least-loaded, and user-choice within the home center
        best, best_load = feasible[0], float("inf")
        for i in feasible:
            e = self.engines[i]
            p = e.pools[0]
            load = (p.cards - p.free + e.queued_cards_by_pool.get(0, 0)) / p.cards
            if load < best_load:
                best, best_load = i, load
        return best, None

    def submit(self, spec: JobSpec) -> Refusal | None:
        """Queue a job; the reason it can never run under this policy, or None."""
        if self.info.late_binding:
            reason = self.engines[0].submit(spec)
            if reason is None:
                self._engine_of_job[spec.id] = self.engines[0]
                self.dirty.add(0)
            return reason
        idx, why = self._bind(spec)
        if idx is None:
            assert why is not None
            return why
        reason = self.engines[idx].submit(spec)
        if reason is None:
            self._engine_of_job[spec.id] = self.engines[idx]
            self.dirty.add(idx)
        return reason

    def cancel(self, job_id: str) -> bool:
        """Take a queued job out of its queue (False if it is not queued)."""
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
        """The queue that runs ``pool_id``."""
        return self._engine_of_pool[pool_id]

    @property
    def queued(self) -> int:
        return sum(e.queued for e in self.engines)

    def hold_reason(self, job_id: str) -> HoldReason:
        """Why a queued job waits (after the last pass)."""
        engine = self._engine_of_job.get(job_id)
        return engine.hold_reason(job_id) if engine is not None else NOT_QUEUED

    def budget_blocked(self) -> bool:
        """Whether the last pass held a job on a monthly budget."""
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
    per queued job: a :class:`Placement` to carry out, or a :class:`Hold` with the reason (times in
    reasons as aware instants: the axis is Unix seconds from ``epoch_s``). ``history`` corrects
    requested run times by each organization's finished jobs; ``priority_weights`` (organization →
    weight, art. 8 key enterprises) divide an organization's expected work in the queue's order
    (``zhisuan`` only, both).
    """

    def __init__(
        self,
        policy: str = DEFAULT_POLICY,
        *,
        seed: int = 0,
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
        policy_info(policy)
        self.policy = policy
        self.epoch_s = epoch_s
        self.options: dict[str, object] = {
            "seed": seed,
            "scaling": scaling,
            "vouchers": vouchers,
            "quotas": quotas,
            "org_weights": org_weights,
            "aging_s": aging_s,
            "epoch_s": epoch_s,
            "weights": weights,
            "max_reservations": max_reservations,
            "history": history,
            "priority_weights": priority_weights,
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
            engine.roll_month(now)
            for org, usage in (month_usage or {}).items():
                engine.set_month_usage(org, usage)
        refused: dict[str, Refusal] = {}
        # by submission, then in the caller's order (ids are text: "100" sorts before "99")
        for job in sorted(queue, key=lambda j: j.submit_s):
            refusal = fed.submit(job)
            if refusal is not None:
                refused[job.id] = refusal
        placed = {s.job.id: s for s in fed.schedule(now, everything=True)}
        reasons: dict[str, HoldReason] = {}
        for engine in fed.engines:
            reasons.update(engine.hold_reasons())
        epoch_s = self.epoch_s
        out: list[Decision] = []
        for job in queue:
            if job.id in refused:
                out.append(Hold(job.id, HoldReason(HoldKind.UNRUNNABLE, Unrunnable(refused[job.id]))))
            elif job.id in placed:
                s = placed[job.id]
                end = s.start_s + fed.engine_for_pool(s.pool.id).true_runtime_on(s.job, s.pool)
                out.append(Placement(job.id, s.pool.id, s.start_s, end, s.cards, s.backfilled))
            else:
                reason = reasons.get(job.id) or fed.hold_reason(job.id)
                out.append(Hold(job.id, reason.on_clock(epoch_s)))
        return out


__all__ = ["Federation", "Scheduler"]
