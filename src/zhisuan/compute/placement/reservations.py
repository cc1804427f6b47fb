"""Reservations of one queue engine: which pool a waiting job is promised, and from when.

A reservation (``Reservation``) promises a job the pool where it can start, and so finish, first
(its *shadow time*); until then other jobs start on that pool only if they end by the shadow time or
fit in the cards left over then (EASY backfill, checked in ``QueueEngine.schedule``). Three kinds:

* ``head``: EASY's own — the oldest jobs that cannot start, up to the engine's ``max_reservations``;
* ``lead`` (fair share): the best-priority gang jobs that cannot start, up to
  ``Weights.lead_reservations`` (small jobs would otherwise take every card that frees);
* ``better`` (fair share): a job that could start now but would finish, or pay, clearly better on a
  busy pool even after waiting for it (``Weights.better_gain``) waits for that pool instead.

Which jobs get a head or lead reservation is the queue's choice (it knows the order); this module
keeps the promises: where, until when, how many, and taking them back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from zhisuan.compute.placement._runtime import Job, PoolRt, Reservation, run_estimate
from zhisuan.compute.placement.commitments import Commitments
from zhisuan.compute.placement.values import Weights


class Reservations:
    """The reservations on one engine's pools (at most one per pool, at most one per job)."""

    def __init__(
        self,
        pools: Sequence[PoolRt],
        commit: Commitments,
        weights: Weights,
        *,
        touch: Callable[[PoolRt], None],
    ) -> None:
        self.pools = pools
        self.commit = commit
        self.weights = weights
        self.n_head = 0
        self.n_lead = 0
        self._touch = touch  # a pool whose reservation went: its queues get a look in the next pass

    def holders(self) -> list[Job]:
        """The jobs holding a reservation now."""
        return [p.res.job for p in self.pools if p.res is not None]

    def fits_plain(self, job: Job, p: PoolRt) -> bool:
        """Whether ``job`` can start on ``p`` now with no reservation in the way."""
        nc = p.node_cards(job.cards)
        return nc <= p.free and p.res is None and self.commit.model_ok(job, p, nc)

    def reserve(self, job: Job, now: int, *, kind: str = "head") -> Reservation | None:
        """Promise ``job`` the pool (without a reservation) where it can start, and so finish, first."""
        best: tuple[int, int, int] | None = None
        best_pool: PoolRt | None = None
        extra_at = 0
        for p in job.pools:
            nc = p.node_cards(job.cards)
            if p.res is not None or not self.commit.model_ok(job, p, nc):
                continue
            shadow, extra = p.shadow(nc, now)
            cand = (shadow + run_estimate(job, p), shadow, p.idx)
            if best is None or cand < best:
                best, best_pool, extra_at = cand, p, extra
        if best is None or best_pool is None:
            return None
        return self.hold(job, best_pool, best[1], extra_at, kind)

    def hold(self, job: Job, pool: PoolRt, shadow: int, extra: int, kind: str) -> Reservation:
        """Record the promise of ``pool`` to ``job`` at ``shadow`` (``extra`` cards spare then)."""
        res = Reservation(job, pool, shadow, extra, kind)
        pool.res = res
        job.res = res
        if kind == "lead":
            self.n_lead += 1
        elif kind == "head":
            self.n_head += 1
        return res

    def drop(self, job: Job) -> None:
        """Take back ``job``'s reservation, if it holds one (it started, left, or no longer needs it)."""
        res = job.res
        if res is not None:
            res.pool.res = None
            job.res = None
            if res.kind == "lead":
                self.n_lead -= 1
            elif res.kind == "head":
                self.n_head -= 1
            self._touch(res.pool)

    def better_pool(self, job: Job, chosen: PoolRt, now: int) -> PoolRt | None:
        """A pool, busy now, where ``job`` would finish clearly sooner or cheaper than on ``chosen``
        even after waiting for it (its shadow time); ``job`` reserves it (or keeps its reservation
        there), so no other job can count on the same pool. None: start on ``chosen`` now."""
        w = self.weights
        run_c = run_estimate(job, chosen)
        if run_c < w.better_min_run_s:
            return None
        keep = self.commit.keeps(job.org, now)[0]
        wf, wp = w.finish, w.price
        cost_c = run_c * chosen.price_f * keep[chosen.idx]
        candidates = (job.res.pool,) if job.res is not None else job.pools
        best: tuple[float, PoolRt, int, int] | None = None
        for p in candidates:
            if p is chosen or (p.res is not None and p.res.job is not job):
                continue
            run_p = run_estimate(job, p)
            cost_p = run_p * p.price_f * keep[p.idx]
            if run_p >= run_c and cost_p >= cost_c:
                continue
            nc = p.node_cards(job.cards)
            if not self.commit.model_ok(job, p, nc):
                continue
            shadow, extra = p.shadow(nc, now)
            fin = shadow - now + run_p
            score = wf * fin / run_c + wp * cost_p / cost_c if cost_c else wf * fin / run_c
            if best is None or score < best[0]:
                best = (score, p, shadow, extra)
        if best is None or best[0] > (wf + (wp if cost_c else 0.0)) * (1 - w.better_gain):
            if job.res is not None and job.res.kind == "better":
                self.drop(job)
            return None
        _score, p, shadow, extra = best
        if job.res is None:
            self.hold(job, p, shadow, extra, "better")
        return p


__all__ = ["Reservations"]
