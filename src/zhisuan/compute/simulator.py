"""A deterministic discrete-event simulation of the province under a placement policy.

Virtual clock in whole seconds; events in a heap (job ends, budget wake-ups) merged with the
sorted arrivals; a seeded RNG for everything random (user-choice home centers, injected failures).
Each pool runs FIFO + EASY backfill on its cards; gang jobs start all their cards at once.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction
from typing import Final

from zhisuan.compute.model import SECONDS_PER_DAY, SHANGHAI_OFFSET_S, JobSpec, JobState, Pool, Scaling
from zhisuan.compute.placement import (
    DEFAULT_AGING_S,
    Federation,
    NoVoucher,
    RunTimeHistory,
    Start,
    VoucherEstimate,
    Weights,
    policy_info,
)
from zhisuan.compute.province import Province
from zhisuan.compute.traces import Trace, compress
from zhisuan.core.money import Money

_FEN_SECONDS_PER_YUAN: Final = 100 * 3600
_EPOCH_ORDINAL: Final = dt.date(1970, 1, 1).toordinal()
MAX_IDLE_MONTHS: Final = 24
METRIC_KEYS: Final = (
    "policy",
    "jobs",
    "completed",
    "failed",
    "unrunnable",
    "jct_avg_s",
    "jct_p50_s",
    "jct_p95_s",
    "jct_p99_s",
    "wait_avg_s",
    "makespan_s",
    "utilization",
    "utilization_by_center",
    "gross_cost_yuan",
    "user_cost_yuan",
    "voucher_yuan",
    "jain_fairness",
    "wall_s",
    "cpu_s",
)


@dataclass(frozen=True, slots=True)
class JobResult:
    """What happened to one job: where and when it ran and what it cost (for usage records later)."""

    job_id: str
    org: str
    cards: int
    submit_s: int
    state: JobState
    pool_id: str | None = None
    center_id: str | None = None
    start_s: int | None = None
    end_s: int | None = None
    attempts: int = 0
    #: list cost, exact, as fen × seconds / hour (see :meth:`Pool.cost_fen_seconds`)
    cost_fen_seconds: int = 0
    #: the part of it that earns a voucher (none for self-use or out-of-province users, art. 2)
    voucher_fen_seconds: int = 0
    #: the share of that part the voucher pays (the estimate's 1 - keep; weighted over attempts)
    voucher_rate: Fraction = Fraction(0)
    reason: str = ""

    @property
    def gross(self) -> Money:
        """List cost of every attempt, exact yuan."""
        return Money(Fraction(self.cost_fen_seconds, _FEN_SECONDS_PER_YUAN))

    @property
    def voucher(self) -> Money:
        """Expected compute voucher (art. 2) from the simulation's estimate, exact yuan."""
        return Money(Fraction(self.voucher_fen_seconds, _FEN_SECONDS_PER_YUAN) * self.voucher_rate)

    @property
    def user_cost(self) -> Money:
        return self.gross - self.voucher


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """Metrics (``METRIC_KEYS``) plus one :class:`JobResult` per trace job, in trace order."""

    metrics: dict[str, object]
    jobs: tuple[JobResult, ...]


def _pct(sorted_values: list[int], q: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-int(q * len(sorted_values) * 1000) // 1000))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def jain(values: list[float]) -> float:
    """Jain's fairness index (1 = perfectly even).

    >>> jain([1.0, 1.0]), round(jain([1.0, 0.0]), 2)
    (1.0, 0.5)
    """
    if not values:
        return 1.0
    sq = sum(v * v for v in values)
    return (sum(values) ** 2) / (len(values) * sq) if sq else 1.0


class _Running:
    __slots__ = ("attempt_end", "fails", "start")

    def __init__(self, start: Start, attempt_end: int, fails: bool) -> None:
        self.start = start
        self.attempt_end = attempt_end
        self.fails = fails


_PATIENCE: Final = _Running.__new__(_Running)  # marks a wake-up when a job's patience runs out


def _add_voucher(base: int, rate: Fraction, more: int, more_rate: Fraction) -> tuple[int, Fraction]:
    """Two attempts' voucher bases and shares as one base and its (weighted) share, exactly."""
    if not more or more_rate == rate:
        return base + more, rate
    if not base:
        return more, more_rate
    return base + more, (base * rate + more * more_rate) / (base + more)


def simulate(
    trace: Trace,
    province: Province,
    policy: str = "zhisuan",
    *,
    seed: int = 0,
    scaling: Scaling | None = None,
    vouchers: VoucherEstimate | None = None,
    aging_s: int = DEFAULT_AGING_S,
    weights: Weights | None = None,
    failure_rate: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
    on_start: Callable[[Start], None] | None = None,
    history: RunTimeHistory | None = None,
    priority_weights: Mapping[str, float] | None = None,
) -> SimulationResult:
    """Replay ``trace`` on ``province`` under ``policy``; deterministic for a given ``seed``.

    ``vouchers`` estimates art. 2 for ranking, budgets and the reported voucher (default: none).
    ``history`` learns each organization's run times from the jobs that complete (default: a fresh
    :class:`RunTimeHistory`; ``zhisuan`` orders new jobs by its estimates, see ``placement.estimates``).
    ``priority_weights`` (organization → weight, art. 8 key enterprises) divide expected work in
    ``zhisuan``'s order.
    """
    policy_info(policy)
    wall0 = time.perf_counter()
    cpu0 = time.process_time()
    rng = random.Random(seed)  # noqa: S311 - a reproducible simulation, not cryptography
    pools = province.pools
    estimate: VoucherEstimate = vouchers or NoVoucher()
    learned = history if history is not None else RunTimeHistory()
    fed = Federation(
        policy,
        pools,
        seed=seed,
        scaling=scaling,
        vouchers=estimate,
        quotas=province.quotas(),
        org_weights=province.weights(),
        aging_s=aging_s,
        epoch_s=trace.epoch_s,
        weights=weights,
        history=learned,
        priority_weights=priority_weights,
    )
    jobs = [
        j if province.org_for(j.org) == j.org else replace(j, org=province.org_for(j.org)) for j in trace.jobs
    ]
    n = len(jobs)
    index = {j.id: k for k, j in enumerate(jobs)}
    results: list[JobResult | None] = [None] * n
    first_start: dict[str, int] = {}
    attempts: dict[str, int] = {}
    busy_by_center: dict[str, int] = {}
    gross_total = 0  # fen-seconds
    voucher_by_share: dict[Fraction, int] = {}  # share the voucher pays -> fen-seconds at that share
    shares: dict[tuple[str, str, int], Fraction] = {}
    price_fen = {p.id: p.price.to_fen() for p in pools}

    events: list[tuple[int, int, _Running | None]] = []  # (time, seq, running or wake-up)
    seq = 0
    i = 0
    done = 0
    last_wake = -1
    patience_wakes: set[int] = set()
    idle_months = 0
    requeue: list[tuple[int, int, JobSpec]] = []
    tick = max(1, n // 200)

    while i < n or events or requeue:
        t_arr = jobs[i].submit_s if i < n else None
        t_req = requeue[0][0] if requeue else None
        t_ev = events[0][0] if events else None
        now = min(x for x in (t_arr, t_req, t_ev) if x is not None)
        # 1. ends at `now` free their cards first
        while events and events[0][0] == now:
            _t, _s, run = heapq.heappop(events)
            if run is None or run is _PATIENCE:  # a new month (budgets reset) or a patience ends
                fed.dirty.update(range(len(fed.engines)))
                for engine in fed.engines:
                    engine.touch_all()
                idle_months += run is None
                continue
            st = run.start
            fed.finish(st)
            spec = st.job
            end = run.attempt_end
            seconds = end - st.start_s
            cards = st.pool.node_cards(st.cards)
            busy_by_center[st.pool.center] = busy_by_center.get(st.pool.center, 0) + cards * seconds
            pool = st.pool
            if pool.bands:
                gross = pool.cost_fen_seconds(st.start_s, seconds, cards, trace.epoch_s)
            else:
                gross = price_fen[pool.id] * cards * seconds
            # the voucher share on the day the attempt started (art. 2, as the estimate says)
            day = (trace.epoch_s + st.start_s + SHANGHAI_OFFSET_S) // SECONDS_PER_DAY
            share_key = (spec.org, pool.operator, day)
            share = shares.get(share_key)
            if share is None:
                on = dt.date.fromordinal(_EPOCH_ORDINAL + day)
                share = shares[share_key] = 1 - estimate.keep(spec.org, pool.operator, on)
            voucher = gross if share else 0
            gross_total += gross
            if share:
                voucher_by_share[share] = voucher_by_share.get(share, 0) + gross
            rate = share
            prev = results[index[spec.id]]
            if prev is not None:  # an earlier attempt failed: costs add up
                gross += prev.cost_fen_seconds
                voucher, rate = _add_voucher(prev.voucher_fen_seconds, prev.voucher_rate, voucher, share)
            tries = attempts.get(spec.id, 0)
            if run.fails and tries <= spec.retries:
                results[index[spec.id]] = JobResult(
                    spec.id,
                    spec.org,
                    spec.cards,
                    spec.submit_s,
                    JobState.FAILED,
                    st.pool.id,
                    st.pool.center,
                    first_start[spec.id],
                    end,
                    tries,
                    gross,
                    voucher,
                    rate,
                    "failed; retrying",
                )
                heapq.heappush(requeue, (now, seq, spec))
                seq += 1
                continue
            state = JobState.FAILED if run.fails else JobState.COMPLETED
            if not run.fails:
                learned.observe(spec.org, spec.runtime_s, spec.true_runtime_s)
            results[index[spec.id]] = JobResult(
                spec.id,
                spec.org,
                spec.cards,
                spec.submit_s,
                state,
                st.pool.id,
                st.pool.center,
                first_start[spec.id],
                end,
                tries,
                gross,
                voucher,
                rate,
                "injected failure" if run.fails else "",
            )
            done += 1
        # 2. arrivals (and retries) at `now`
        while requeue and requeue[0][0] == now:
            _t, _s, spec = heapq.heappop(requeue)
            fed.submit(spec)
        while i < n and jobs[i].submit_s == now:
            spec = jobs[i]
            i += 1
            refused = fed.submit(spec)
            if refused is not None:
                results[index[spec.id]] = JobResult(
                    spec.id, spec.org, spec.cards, spec.submit_s, JobState.CANCELLED, reason=refused.text()
                )
                done += 1
        # 3. one pass over the queues that changed
        for st in fed.schedule(now):
            idle_months = 0
            spec = st.job
            attempts[spec.id] = attempts.get(spec.id, 0) + 1
            first_start.setdefault(spec.id, st.start_s)
            fails = failure_rate > 0 and rng.random() < failure_rate
            end = st.end_s
            if fails:
                end = st.start_s + max(1, int((st.end_s - st.start_s) * rng.random()))
            if on_start is not None:
                on_start(st)
            heapq.heappush(events, (end, seq, _Running(st, end, fails)))
            seq += 1
        if fed.budget_blocked():
            wake = fed.engines[0].month_end(now)
            if wake > last_wake:
                last_wake = wake
                heapq.heappush(events, (wake, seq, None))
                seq += 1
        wake_patience = fed.take_wake()
        if wake_patience is not None and wake_patience > now and wake_patience not in patience_wakes:
            patience_wakes.add(wake_patience)
            heapq.heappush(events, (wake_patience, seq, _PATIENCE))
            seq += 1
        if progress is not None and done and done % tick == 0:
            progress(done, n)
        if i >= n and not events and not requeue and fed.queued:
            break  # nothing left can free a card or move the clock: the rest never starts
        if idle_months > MAX_IDLE_MONTHS:
            break  # months pass and nothing starts: the rest waits on budgets that never allow it

    for k, spec in enumerate(jobs):
        if results[k] is None:
            results[k] = JobResult(
                spec.id,
                spec.org,
                spec.cards,
                spec.submit_s,
                JobState.QUEUED,
                reason=f"never started: {fed.hold_reason(spec.id).text()}",
            )
    final = [r for r in results if r is not None]
    if progress is not None:
        progress(n, n)
    gross_money = Money(Fraction(gross_total, _FEN_SECONDS_PER_YUAN))
    voucher_money = Money(
        sum((Fraction(v, _FEN_SECONDS_PER_YUAN) * s for s, v in voucher_by_share.items()), Fraction(0))
    )
    metrics = _metrics(policy, final, pools, busy_by_center, gross_money, voucher_money)
    metrics["wall_s"] = round(time.perf_counter() - wall0, 3)
    metrics["cpu_s"] = round(time.process_time() - cpu0, 3)
    return SimulationResult(metrics=metrics, jobs=tuple(final))


def sweep(
    trace: Trace,
    province: Province,
    loads: Sequence[Decimal | float | str],
    policies: Sequence[str],
    *,
    seed: int = 0,
    vouchers: VoucherEstimate | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[dict[str, object]]:
    """Every policy at every load factor (arrivals of ``trace`` compressed by it): one metrics row
    per (load, policy), in that order, each with its ``load_factor``. ``progress(done, total, what)``
    is called after each run."""
    for name in policies:
        policy_info(name)
    factors = [Decimal(str(x)) for x in loads]
    total = len(factors) * len(policies)
    rows: list[dict[str, object]] = []
    for lf in factors:
        compressed = compress(trace, lf)
        for name in policies:
            metrics = simulate(compressed, province, name, seed=seed, vouchers=vouchers).metrics
            rows.append({"load_factor": str(lf), **metrics})
            if progress is not None:
                progress(len(rows), total, f"×{lf} {name}")
    return rows


#: issue 14's targets for ``zhisuan`` at every load of a sweep (ratios to the other policies' figures)
TARGETS: Final = {
    "jct_mean_vs_best": 1.05,  # mean JCT at most 5% above the best other policy's
    "jct_median_vs_best": 1.05,  # median JCT likewise
    "cost_vs_least_loaded": 1.0,  # user cost no higher than least-loaded's
    "p99_vs_pooled_ideal": 1.25,  # p99 JCT at most 1.25 × pooled-ideal's
}


def check_targets(rows: Sequence[Mapping[str, object]], policy: str = "zhisuan") -> list[dict[str, object]]:
    """Per load factor of a :func:`sweep`, ``policy``'s ratios against :data:`TARGETS` and what it missed.

    The best other policy is the one with the lowest figure among all the others at that load.
    """
    by_load: dict[str, dict[str, Mapping[str, object]]] = {}
    for r in rows:
        by_load.setdefault(str(r["load_factor"]), {})[str(r["policy"])] = r
    out: list[dict[str, object]] = []
    for load, runs in by_load.items():
        me = runs.get(policy)
        others = [r for name, r in runs.items() if name != policy]
        if me is None or not others:
            continue

        def num(r: Mapping[str, object], key: str) -> float:
            return float(str(r[key]))

        def ratio(mine: float, theirs: float) -> float:
            return round(mine / theirs, 3) if theirs else (1.0 if not mine else float("inf"))

        ratios = {
            "jct_mean_vs_best": ratio(num(me, "jct_avg_s"), min(num(r, "jct_avg_s") for r in others)),
            "jct_median_vs_best": ratio(num(me, "jct_p50_s"), min(num(r, "jct_p50_s") for r in others)),
        }
        if "least-loaded" in runs:
            ratios["cost_vs_least_loaded"] = ratio(
                num(me, "user_cost_yuan"), num(runs["least-loaded"], "user_cost_yuan")
            )
        if "pooled-ideal" in runs:
            ratios["p99_vs_pooled_ideal"] = ratio(
                num(me, "jct_p99_s"), num(runs["pooled-ideal"], "jct_p99_s")
            )
        missed = [f"{k} {v} > {TARGETS[k]}" for k, v in ratios.items() if v > TARGETS[k]]
        out.append({"load_factor": load, "ratios": ratios, "ok": not missed, "missed": missed})
    return out


def _metrics(
    policy: str,
    results: list[JobResult],
    pools: tuple[Pool, ...],
    busy_by_center: Mapping[str, int],
    gross: Money,
    voucher: Money,
) -> dict[str, object]:
    done = [
        r for r in results if r.state is JobState.COMPLETED and r.end_s is not None and r.start_s is not None
    ]
    jct = sorted(r.end_s - r.submit_s for r in done if r.end_s is not None)
    waits = [r.start_s - r.submit_s for r in done if r.start_s is not None]
    unrunnable = [r for r in results if r.state in (JobState.CANCELLED, JobState.QUEUED)]
    ran = [r for r in results if r.end_s is not None]
    t0 = min((r.submit_s for r in results), default=0)
    t1 = max((r.end_s for r in ran if r.end_s is not None), default=t0)
    makespan = max(0, t1 - t0)
    cards_by_center: dict[str, int] = {}
    for p in pools:
        cards_by_center[p.center] = cards_by_center.get(p.center, 0) + p.cards
    total_cards = sum(cards_by_center.values())
    util = sum(busy_by_center.values()) / (total_cards * makespan) if makespan and total_cards else 0.0
    by_center = {
        c: round(busy_by_center.get(c, 0) / (cards * makespan), 4) if makespan else 0.0
        for c, cards in cards_by_center.items()
    }
    per_org: dict[str, list[float]] = {}
    for r in done:
        assert r.end_s is not None
        assert r.start_s is not None
        span = r.end_s - r.submit_s
        per_org.setdefault(r.org, []).append((r.end_s - r.start_s) / span if span else 1.0)
    fairness = jain([sum(v) / len(v) for v in per_org.values()])
    return {
        "policy": policy,
        "jobs": len(results),
        "completed": len(done),
        "failed": sum(1 for r in results if r.state is JobState.FAILED),
        "unrunnable": len(unrunnable),
        "unrunnable_jobs": [
            {"job_id": r.job_id, "org": r.org, "cards": r.cards, "reason": r.reason} for r in unrunnable
        ],
        "jct_avg_s": round(sum(jct) / len(jct), 1) if jct else 0.0,
        "jct_p50_s": _pct(jct, 0.50),
        "jct_p95_s": _pct(jct, 0.95),
        "jct_p99_s": _pct(jct, 0.99),
        "wait_avg_s": round(sum(waits) / len(waits), 1) if waits else 0.0,
        "makespan_s": makespan,
        "utilization": round(util, 4),
        "utilization_by_center": by_center,
        "gross_cost_yuan": str((gross).round().to_decimal()),
        "user_cost_yuan": str((gross - voucher).round().to_decimal()),
        "voucher_yuan": str(voucher.round().to_decimal()),
        "jain_fairness": round(fairness, 4),
    }


__all__ = [
    "METRIC_KEYS",
    "TARGETS",
    "JobResult",
    "SimulationResult",
    "check_targets",
    "jain",
    "simulate",
    "sweep",
]
