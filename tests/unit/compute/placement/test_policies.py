"""zhisuan's pool choice under contention: a long one-card job is kept off a pool that another of its
pools beats on run time and on price per unit of work (``policies.pass_over_dominated``)."""

from __future__ import annotations

from tests.factories.compute import job, pool, province, trace
from zhisuan.compute.model import AcceleratorConstraint, Pool
from zhisuan.compute.placement import HoldKind, QueueEngine, Start, WaitingForPool, Weights
from zhisuan.compute.placement.policies import choose_zhisuan, pass_over_dominated, rank_zhisuan
from zhisuan.compute.simulator import simulate

FAST = "h100-sxm5-80gb"  # 3.16 × an A100, the reference of the factory's jobs
SLOW = "a100-sxm4-80gb"
LONG = 40_000  # seconds on an A100: 11 h, past the 2 h from which the rule applies
ONLY_SLOW = AcceleratorConstraint(models=frozenset({SLOW}))


#: better-pool reservations off: they too keep long jobs off slow pools, and would hide this rule
PLAIN = Weights(better_gain=0)


def engine(*pools: Pool, weights: Weights = PLAIN) -> QueueEngine:
    return QueueEngine(
        pools,
        fair_share=True,
        chooser=choose_zhisuan,
        ranking=rank_zhisuan,
        pass_over=pass_over_dominated,
        weights=weights,
    )


def contended(slow_price: str = "30", weights: Weights = PLAIN) -> QueueEngine:
    """The fast pool (cheaper per unit of work at 20 a card-hour) has its 8 cards busy until t=1,000,
    one job each; the slow one has one card free; a whole-pool job that only the slow pool may run
    waits too, so more jobs queue than cards are free."""
    eng = engine(
        pool("fast", model=FAST, price="20"), pool("slow", model=SLOW, price=slow_price), weights=weights
    )
    for i in range(8):
        eng.occupy("fast", "other", 1, end_s=1_000, seq=-1 - i)
    eng.occupy("slow", "other", 7, end_s=60_000)
    assert eng.submit(job("gang", cards=8, runtime=100, submit=0, constraint=ONLY_SLOW)) is None
    return eng


def started(eng: QueueEngine, now: int) -> dict[str, str]:
    return {s.job.id: s.pool.id for s in eng.schedule(now)}


def free_one(eng: QueueEngine, pool_id: str, seq: int) -> None:
    """One of the cards ``contended`` occupied on ``pool_id`` frees (its job ended)."""
    p = eng.by_id[pool_id]
    entry = next(e for e in p.ends if e[1] == seq)
    eng.finish(Start(job("ended", runtime=1), p.pool, 0, entry[0], 1, False, entry))


def test_a_long_one_card_job_waits_for_the_pool_that_is_both_faster_and_cheaper_per_unit_of_work() -> None:
    eng = contended()
    eng.submit(job("long", cards=1, runtime=LONG, submit=0))
    assert started(eng, 0) == {}  # the slow pool's free card is left alone
    why = eng.hold_reason("long")
    assert why.kind is HoldKind.CAPACITY
    assert why.detail == WaitingForPool("fast", 1_000)  # the better pool frees at t=1,000
    assert why.until == LONG // 4  # it waits at most a quarter of its run on the slow pool
    assert eng.wake_at == LONG // 4  # and the engine looks again then, whatever else happens
    assert "waiting for fast" in why.text()


def test_it_takes_the_better_pool_once_a_card_frees_there() -> None:
    eng = contended()
    eng.submit(job("long", cards=1, runtime=LONG, submit=0))
    assert started(eng, 0) == {}
    free_one(eng, "fast", -1)
    assert started(eng, 1_000) == {"long": "fast"}


def test_after_waiting_a_quarter_of_its_run_it_takes_the_pool_free_now() -> None:
    eng = contended()
    eng.submit(job("long", cards=1, runtime=LONG, submit=0))
    assert started(eng, 0) == {}
    assert started(eng, LONG // 4 - 1) == {}  # the fast pool is still full (nothing ended here)
    assert started(eng, LONG // 4) == {"long": "slow"}


def test_a_pool_slower_but_cheaper_per_unit_of_work_is_not_passed_over() -> None:
    # 5/card-hour on a pool 3.16× slower is cheaper per unit of work than 20 on the fast one
    eng = contended(slow_price="5")
    eng.submit(job("long", cards=1, runtime=LONG, submit=0))
    assert started(eng, 0) == {"long": "slow"}


def test_short_wide_or_uncontended_jobs_start_where_they_can_at_once() -> None:
    short = contended()
    short.submit(job("short", cards=1, runtime=3_600, submit=0))  # 1 h: under the 2 h threshold
    assert started(short, 0) == {"short": "slow"}

    quiet = engine(pool("fast", model=FAST, price="20"), pool("slow", model=SLOW, price="30"))
    quiet.occupy("fast", "other", 8, end_s=1_000)
    quiet.submit(job("long", cards=1, runtime=LONG, submit=0))  # 1 job queued, 8 cards free
    assert started(quiet, 0) == {"long": "slow"}

    off = contended(weights=Weights(better_gain=0, dominated_min_run_s=0))
    off.submit(job("long", cards=1, runtime=LONG, submit=0))
    assert started(off, 0) == {"long": "slow"}


def test_jobs_of_more_than_one_card_are_not_held_back_by_it() -> None:
    eng = engine(pool("fast", model=FAST, price="20"), pool("slow", model=SLOW, price="30"))
    for i in range(8):
        eng.occupy("fast", "other", 1, end_s=1_000, seq=-1 - i)
    eng.occupy("slow", "other", 6, end_s=60_000)
    for g in ("g1", "g2"):
        eng.submit(job(g, cards=8, runtime=100, submit=0, constraint=ONLY_SLOW))
    eng.submit(job("pair", cards=2, runtime=LONG, submit=0))  # 3 jobs queued, 2 cards free
    assert started(eng, 0) == {"pair": "slow"}


def test_the_simulators_zhisuan_keeps_a_long_job_off_the_dominated_pool() -> None:
    fill = [job(f"fill{i}", runtime=3_000) for i in range(8)]  # smallest work: the fast pool, ~950 s
    held = [job(f"slow{i}", runtime=60_000, constraint=ONLY_SLOW) for i in range(7)]  # 7 of 8 slow cards
    gang = job("gang", cards=8, runtime=10_000, constraint=ONLY_SLOW)  # cannot start: jobs queue
    long = job("long", runtime=LONG, submit=1)
    prov = province(pool("fast", model=FAST, price="20"), pool("slow", model=SLOW, price="30"))
    runs = trace(*fill, *held, gang, long)

    on = {r.job_id: r for r in simulate(runs, prov, "zhisuan", weights=PLAIN).jobs}["long"]
    assert on.pool_id == "fast"
    assert on.start_s is not None and on.start_s > 900  # it waited for a card of the fast pool

    rule_off = Weights(better_gain=0, dominated_min_run_s=0)
    off = {r.job_id: r for r in simulate(runs, prov, "zhisuan", weights=rule_off).jobs}["long"]
    assert (off.pool_id, off.start_s) == ("slow", 1)  # without it: the free slow card at once
