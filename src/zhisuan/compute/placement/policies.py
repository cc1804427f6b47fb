"""Placement policies: how a queue ranks and chooses pools, and the registry of named policies.

* **early binding** (``user-choice``, ``round-robin``, ``least-loaded``): a pool is chosen when the job
  is submitted; the job then waits in that pool's own queue (FIFO + EASY backfill on its cards);
* **late binding** (``pooled-ideal``, ``zhisuan``): the job waits in the platform queue and is bound
  to a pool only when one can start it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Final

from zhisuan.compute.placement._runtime import Job, PoolRt
from zhisuan.compute.placement.values import HoldKind, HoldReason, WaitingForPool
from zhisuan.core.errors import NotFoundError

if TYPE_CHECKING:
    from zhisuan.compute.placement.queue import QueueEngine


# --------------------------------------------------------------------------------------------------
# Rankings: pools best first, when the order does not depend on the moment
# --------------------------------------------------------------------------------------------------


def rank_fastest(engine: QueueEngine, job: Job, now: int) -> tuple[tuple[PoolRt, ...], int] | None:
    """Shortest scaled run time first (pooled-ideal); one pool's queue has just its pool."""
    assert job.cls is not None
    key = (id(job.cls), job.spec.reference)
    found = engine.rank_cache.get(key)
    if found is None:
        order = tuple(sorted(job.cls.pools, key=lambda p: (Fraction(*reversed(job.factors[p.idx])), p.idx)))
        found = engine.rank_cache[key] = (order, len(order))
    return found


def rank_zhisuan(engine: QueueEngine, job: Job, now: int) -> tuple[tuple[PoolRt, ...], int] | None:
    """Best score first: run time relative to the fastest matching pool, plus the user's price
    (after the voucher, art. 2) relative to the cheapest. Data locality or waiting for a better pool
    depend on the job and the moment: those go to :func:`choose_zhisuan` instead."""
    spec = job.spec
    w = engine.weights
    if w.max_wait_s > 0 or spec.data_center is not None or spec.data_city is not None:
        return None
    assert job.cls is not None
    keep, kid = engine.commit.keeps(job.org, now)
    key = (id(job.cls), spec.reference, kid)
    found = engine.rank_cache.get(key)
    if found is None:
        pools = job.cls.pools
        runs = {p.idx: job.factors[p.idx][1] / job.factors[p.idx][0] for p in pools}
        costs = {p.idx: runs[p.idx] * (p.price_f * keep[p.idx]) for p in pools}
        best_r = min(runs.values())
        best_c = min(costs.values()) or 1.0

        def score(p: PoolRt) -> tuple[float, int]:
            return (w.finish * runs[p.idx] / best_r + w.price * costs[p.idx] / best_c, p.idx)

        order = tuple(sorted(pools, key=score))
        # the first pools, up to the first overflow one, are taken at once; the rest after patience
        cut = next((i for i, p in enumerate(order) if costs[p.idx] > w.overflow_ratio * best_c), len(order))
        found = engine.rank_cache[key] = (order, max(cut, 1))
    return found


# --------------------------------------------------------------------------------------------------
# Choosers: which pool, among those that can start the job now
# --------------------------------------------------------------------------------------------------


def choose_first(
    engine: QueueEngine, job: Job, now: int, startable: list[PoolRt]
) -> tuple[PoolRt | None, HoldReason | None]:
    """The only pool of a per-pool queue (early binding)."""
    return startable[0], None


def choose_fastest(
    engine: QueueEngine, job: Job, now: int, startable: list[PoolRt]
) -> tuple[PoolRt | None, HoldReason | None]:
    """Earliest finish among pools that can start it now (pooled-ideal)."""
    return min(startable, key=lambda p: (engine.runtime_on(job, p), p.idx)), None


def choose_zhisuan(
    engine: QueueEngine, job: Job, now: int, startable: list[PoolRt]
) -> tuple[PoolRt | None, HoldReason | None]:
    """Score every feasible pool by expected finish, user's price after voucher and data locality.

    A pool that cannot start the job now is considered with its expected start (the time enough
    of its running jobs end), so a job may wait briefly for a much faster or cheaper pool. A job
    that has waited past the aging bound, or holds a reservation, takes the best pool free now.
    """
    w = engine.weights
    spec = job.spec
    urgent = now - job.submit >= engine.aging_s or job.res is not None
    rt, factors = job.rt, job.factors
    keep = engine.commit.keeps(job.org, now)[0]
    options: list[tuple[PoolRt, int, bool]] = [(p, now, True) for p in startable]
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
        costs.append(run * (p.price_f * keep[p.idx]))
    best_f = max(1.0, min(finishes))
    best_c = min(costs) or 1.0
    best_score = float("inf")
    best: tuple[PoolRt, int, bool] | None = None
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
        return p, None
    return None, HoldReason(HoldKind.CAPACITY, WaitingForPool(p.pool.id, start - now))


def pass_over_dominated(engine: QueueEngine, job: Job, now: int, chosen: PoolRt) -> HoldReason | None:
    """``zhisuan``: a long one-card job does not start, under contention, on a pool that another of its
    pools beats on run time and on price per unit of work (``Weights.dominated_min_run_s``); it waits
    for the better pool that frees first, for at most ``Weights.dominated_wait`` × its run on
    ``chosen``. Returns why it waits, or None to start on ``chosen``.

    Only one-card jobs: one card of a better pool frees often, a whole pool rarely under contention.
    Only while more jobs queue than cards are free: otherwise a pool is free for every job anyway.
    """
    w = engine.weights
    if job.cards != 1 or w.dominated_min_run_s <= 0 or engine.queued <= engine.free_total:
        return None
    run_c = engine.runtime_on(job, chosen)
    if run_c < w.dominated_min_run_s:
        return None
    until = job.submit + int(w.dominated_wait * run_c)
    if now >= until:
        return None
    better = _dominating(engine, job, now, chosen)
    if not better:
        return None
    frees, pool = min(((p.shadow(1, now)[0], p) for p in better), key=lambda fp: (fp[0], fp[1].idx))
    if engine.wake_at is None or until < engine.wake_at:
        engine.wake_at = until  # it takes ``chosen`` then, even if nothing else happens by that time
    return HoldReason(HoldKind.CAPACITY, WaitingForPool(pool.pool.id, max(0, frees - now)), until)


def _dominating(engine: QueueEngine, job: Job, now: int, chosen: PoolRt) -> tuple[PoolRt, ...]:
    """The pools of ``job``'s class that run it no slower than ``chosen`` and charge no more per unit of
    work, one of the two by ``Weights.dominated_margin`` at least. Both ratios are the pools' own (speed
    for the job's reference model, price after the voucher), not the job's: cached like rankings."""
    assert job.cls is not None
    keep, kid = engine.commit.keeps(job.org, now)
    key = ("dominated", id(job.cls), job.spec.reference, kid, chosen.idx)
    found = engine.rank_cache.get(key)
    if found is None:
        m = 1.0 - engine.weights.dominated_margin

        def per_work(p: PoolRt) -> tuple[float, float]:  # (seconds, price) per reference second
            num, den = job.factors[p.idx]
            return den / num, den / num * p.price_f * keep[p.idx]

        run_c, cost_c = per_work(chosen)
        better = tuple(
            p
            for p in job.cls.pools
            if p is not chosen
            and (r := per_work(p))[0] <= run_c
            and r[1] <= cost_c
            and (r[0] <= m * run_c or r[1] <= m * cost_c)
        )
        found = engine.rank_cache[key] = (better, 0)
    return found[0]


# --------------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------------


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
        "late binding: smallest expected work first (fair share), expected finish, price after voucher, "
        "data locality, reservations for old, gang and long jobs, long jobs kept off pools both slower "
        "and dearer per unit of work, EASY backfill",
    ),
}
DEFAULT_POLICY: Final = "zhisuan"


def policy_info(name: str) -> PolicyInfo:
    """The registered policy called ``name`` (or a NotFoundError listing them)."""
    found = POLICIES.get(name)
    if found is None:
        raise NotFoundError(f"no placement policy {name!r}; one of {', '.join(POLICIES)}", field="policy")
    return found


def policy_names() -> list[str]:
    """The registered policies' names, in registry order."""
    return list(POLICIES)


__all__ = [
    "DEFAULT_POLICY",
    "POLICIES",
    "PolicyInfo",
    "choose_fastest",
    "choose_first",
    "choose_zhisuan",
    "pass_over_dominated",
    "policy_info",
    "policy_names",
    "rank_fastest",
    "rank_zhisuan",
]
