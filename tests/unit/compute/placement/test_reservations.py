"""The promises a queue engine keeps: where a waiting job will start, from when, how many, taken back."""

from __future__ import annotations

from tests.factories.compute import job, pool
from zhisuan.compute.model import JobSpec, Pool
from zhisuan.compute.placement import HoldKind, QueueEngine, Reserved, Weights
from zhisuan.compute.placement._runtime import Job, PoolRt
from zhisuan.compute.placement.policies import choose_zhisuan, rank_zhisuan
from zhisuan.compute.placement.reservations import Reservations

FAST = "h100-sxm5-80gb"  # 3.16 × an A100, the reference of the factory's jobs
SLOW = "a100-sxm4-80gb"


def engine(*pools: Pool) -> QueueEngine:
    return QueueEngine(
        pools,
        fair_share=True,
        chooser=choose_zhisuan,
        ranking=rank_zhisuan,
    )


def queued(eng: QueueEngine, spec: JobSpec) -> Job:
    assert eng.submit(spec) is None
    return eng._jobs[spec.id]


def test_a_blocked_job_is_promised_the_pool_where_it_finishes_first_not_the_one_that_frees_first() -> None:
    eng = engine(pool("fast", model=FAST), pool("slow", model=SLOW))
    eng.occupy("fast", "other", 8, end_s=1000)  # frees later, but runs the job 3× faster
    eng.occupy("slow", "other", 8, end_s=500)
    spec = job("wide", cards=8, runtime=40_000, submit=0)
    eng.submit(spec)
    assert eng.schedule(0) == []
    why = eng.hold_reason("wide")
    assert why.kind is HoldKind.RESERVED
    assert why.detail == Reserved("fast", 8)
    assert why.until == 1000  # fast: ends at 1000 + 12,642 s; slow: at 500 + 40,000 s


def test_one_reservation_per_pool_and_the_count_falls_when_one_is_taken_back() -> None:
    touched: list[PoolRt] = []
    eng = engine(pool("a"), pool("b"))
    eng.occupy("a", "other", 8, end_s=100)
    eng.occupy("b", "other", 8, end_s=200)
    res = Reservations(eng.pools, eng.commit, Weights(), touch=touched.append)
    first, second, third = (queued(eng, job(f"j{i}", cards=8, runtime=1000, submit=0)) for i in range(3))

    r1, r2 = res.reserve(first, 0), res.reserve(second, 0)
    assert r1 is not None
    assert r2 is not None
    assert (r1.pool.pool.id, r1.shadow) == ("a", 100)
    assert (r2.pool.pool.id, r2.shadow) == ("b", 200)  # "a" is promised already
    assert res.reserve(third, 0) is None  # every pool is promised: nothing left to promise
    assert res.n_head == 2
    assert [j.spec.id for j in res.holders()] == ["j0", "j1"]

    res.drop(first)
    assert first.res is None
    assert r1.pool.res is None
    assert res.n_head == 1
    assert touched == [r1.pool]  # the freed pool's queues get a look in the next pass
    res.drop(first)  # dropping twice is harmless
    assert res.n_head == 1
    assert res.fits_plain(third, r1.pool) is False  # "a" is still busy until t=100


def test_lead_and_better_reservations_are_counted_apart_from_easy_head_ones() -> None:
    eng = engine(pool("a"), pool("b"))
    eng.occupy("a", "other", 8, end_s=100)
    eng.occupy("b", "other", 8, end_s=200)
    res = Reservations(eng.pools, eng.commit, Weights(), touch=lambda p: None)
    gang, long = (queued(eng, job(n, cards=8, runtime=1000, submit=0)) for n in ("gang", "long"))
    assert res.reserve(gang, 0, kind="lead") is not None
    res.hold(long, eng.by_id["b"], 200, 0, "better")
    assert (res.n_head, res.n_lead) == (0, 1)
    res.drop(gang)
    res.drop(long)
    assert (res.n_head, res.n_lead) == (0, 0)
    assert all(p.res is None for p in eng.pools)


def _long_job_beside_a_busy_fast_pool(
    fast_free_at: int,
) -> tuple[QueueEngine, Reservations, Job, PoolRt, PoolRt]:
    eng = engine(pool("fast", model=FAST, price="20"), pool("slow", model=SLOW, price="10"))
    eng.occupy("fast", "other", 8, end_s=fast_free_at)
    res = Reservations(eng.pools, eng.commit, Weights(), touch=lambda p: None)
    long = queued(eng, job("long", cards=1, runtime=36_000, submit=0))  # 10 A100-hours
    return eng, res, long, eng.by_id["fast"], eng.by_id["slow"]


def test_a_long_job_waits_for_a_busy_pool_only_where_it_finishes_clearly_sooner() -> None:
    # 36,000 s on the free slow pool; 11,378 s on the fast one once that frees, at two thirds the price
    _eng, res, long, fast, slow = _long_job_beside_a_busy_fast_pool(fast_free_at=600)
    assert res.better_pool(long, slow, 0) is fast
    assert long.res is not None
    assert (long.res.kind, long.res.pool, long.res.shadow) == ("better", fast, 600)
    assert res.better_pool(long, slow, 60) is fast  # it keeps its promise on the next pass

    _eng, res, long, fast, slow = _long_job_beside_a_busy_fast_pool(fast_free_at=12_000)
    assert res.better_pool(long, slow, 0) is None  # 12,000 + 11,378 s: not clearly better
    assert long.res is None
    assert fast.res is None


def test_a_short_job_never_waits_for_a_better_pool() -> None:
    eng, res, _long, fast, slow = _long_job_beside_a_busy_fast_pool(fast_free_at=10)
    short = queued(eng, job("short", cards=1, runtime=600, submit=0))
    assert res.better_pool(short, slow, 0) is None  # 600 s where it can start: under better_min_run_s
    assert short.res is None
    assert fast.res is None
