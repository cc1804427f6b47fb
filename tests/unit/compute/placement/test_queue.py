"""The queue engine's order and reservations under overload (through the simulator)."""

from __future__ import annotations

import pytest

from tests.factories.compute import job, pool, province, trace
from zhisuan.compute.model import JobSpec, Pool
from zhisuan.compute.placement import Placement, PoolState, RunningJob, Scheduler, Weights
from zhisuan.compute.placement._runtime import aged_log_work
from zhisuan.compute.simulator import simulate
from zhisuan.core.errors import ValidationError


def _starts(policy: str, jobs, prov, **kw):  # type: ignore[no-untyped-def]
    return {r.job_id: r.start_s for r in simulate(jobs, prov, policy, **kw).jobs}


def overloaded_queue():  # type: ignore[no-untyped-def]
    # one 4-card pool, busy until t=1000; five jobs wait for its cards, the oldest one the longest
    prov = province(pool("p", cpn=4))
    busy = [job(f"run{i}", cards=1, runtime=1000, submit=0) for i in range(4)]
    waiting = [
        job("oldest", cards=1, runtime=5000, submit=1),
        job("a", cards=1, runtime=3000, submit=2),
        job("b", cards=1, runtime=2000, submit=3),
        job("c", cards=1, runtime=100, submit=4),
        job("d", cards=1, runtime=50, submit=5),
    ]
    return prov, trace(*busy, *waiting)


def test_zhisuan_starts_the_smallest_expected_work_first_under_overload() -> None:
    prov, jobs = overloaded_queue()
    starts = _starts("zhisuan", jobs, prov)
    # the oldest job holds EASY's reservation and starts first; the other three cards go to the
    # smallest work (d, c, b), not to the next in line (a)
    assert starts["oldest"] == 1000
    assert starts["d"] == starts["c"] == starts["b"] == 1000
    assert (starts["a"] or 0) > 1000


def test_pooled_ideal_starts_them_in_submission_order() -> None:
    prov, jobs = overloaded_queue()
    starts = _starts("pooled-ideal", jobs, prov)
    assert starts["oldest"] == starts["a"] == starts["b"] == starts["c"] == 1000
    assert (starts["d"] or 0) > 1000


def test_aging_counts_waiting_as_halving_work() -> None:
    halving = 1000
    # work 4000 submitted at 0 against work 1000: equal once the second is submitted 2 halvings later
    assert aged_log_work(1, 4000, 0, halving) == aged_log_work(1, 1000, 2 * halving, halving)
    assert aged_log_work(1, 4000, 0, halving) < aged_log_work(1, 1000, 2 * halving + 1, halving)
    assert aged_log_work(1, 4000, 0, halving) > aged_log_work(1, 1000, 2 * halving - 1, halving)


def test_with_aging_an_old_long_job_goes_ahead_of_later_short_ones() -> None:
    prov = province(pool("p", cpn=3))
    jobs = trace(
        job("run0", cards=1, runtime=10_000, submit=0),
        job("run1", cards=1, runtime=1000, submit=0),
        job("run2", cards=1, runtime=1000, submit=0),
        job("head", cards=1, runtime=9000, submit=1),  # the oldest: holds the reservation
        job("long", cards=1, runtime=4000, submit=2),
        job("short", cards=1, runtime=1000, submit=900),  # work ÷ 4, but 898 s later: < 2 halvings
    )
    plain = _starts("zhisuan", jobs, prov)
    aged = _starts("zhisuan", jobs, prov, weights=Weights(age_halving_s=400))
    # at t=1000 two cards free: the oldest job takes one (its reservation), the other goes to ...
    assert plain["head"] == aged["head"] == 1000
    assert plain["short"] == 1000  # ... the smaller work, without aging
    assert aged["long"] == 1000  # ... the long job with aging: 898 s = 2.2 halvings of 400 s


def sustained_overload(gang_submit: int, gang_runtime: int = 1000):  # type: ignore[no-untyped-def]
    # two 8-card pools; 1-card jobs of 400 s arrive every 20 s (20 cards wanted, 16 there): the queue
    # only grows. Small jobs fill every card that frees, so a gang job never finds 8 free by chance.
    prov = province(pool("p1", "c1"), pool("p2", "c2", city="340200"))
    stream = [job(f"s{i}", org=f"o{i % 3}", cards=1, runtime=400, submit=i * 20) for i in range(1500)]
    gang = job("gang", org="g", cards=8, runtime=gang_runtime, submit=gang_submit)
    return prov, trace(*stream, gang)


def test_a_gang_job_under_sustained_overload_starts_within_the_stated_bound() -> None:
    # docs/compute-core.md: the best-priority gang job that cannot start holds a lead reservation on
    # the pool where it can start first, and backfill cannot delay it: it starts within the longest
    # (estimated) run time of the jobs running there — 400 s here — however long the queue is.
    for submit in (3_000, 10_000, 20_000):
        prov, jobs = sustained_overload(submit)
        result = {r.job_id: r for r in simulate(jobs, prov, "zhisuan").jobs}
        gang = result["gang"]
        assert gang.start_s is not None
        assert gang.start_s - submit <= 400, f"submitted at {submit}, started at {gang.start_s}"
        queued_then = sum(1 for r in result.values() if r.submit_s <= submit and (r.start_s or 0) > submit)
        assert queued_then > 20, "the province really was overloaded when the gang job came"


def test_a_long_job_waits_for_a_much_faster_pool_about_to_free_up() -> None:
    # the H100 pool frees at t=600; a 1-card job of 20,000 s (on an A100) could start now on a slow
    # K100-AI card, where it would run 32,000 s; on the H100 it runs ~6,300 s after a 600 s wait
    prov = province(
        pool("fast", "c1", model="h100-sxm5-80gb", cpn=1, price="20"),
        pool("slow", "c2", model="hygon-dcu-k100-ai", cpn=1, price="7", city="340200"),
    )
    jobs = trace(
        job("busy", cards=1, runtime=1900, submit=0),  # on the H100 until t=600
        job("long", cards=1, runtime=20_000, submit=10),
        job("quick", cards=1, runtime=100, submit=20),
    )
    result = {r.job_id: r for r in simulate(jobs, prov, "zhisuan").jobs}
    assert result["busy"].pool_id == "fast"
    assert result["long"].pool_id == "fast"
    assert result["long"].start_s == 600
    assert result["quick"].pool_id == "slow"  # the short job does not wait: it takes the free card
    off = {r.job_id: r for r in simulate(jobs, prov, "zhisuan", weights=Weights(better_gain=0)).jobs}
    assert off["long"].pool_id == "slow"


def key_enterprise_queue() -> tuple[Pool, list[JobSpec], RunningJob]:
    # one free card; an ordinary firm's job and a key enterprise's job of equal work want it
    p = pool("p", cpn=8)
    busy = RunningJob("r", "x", 7, end_s=5000)
    return p, [job("plain", org="b", submit=0), job("key", org="k", submit=1)], busy


def _placed(weights: dict[str, float] | None) -> set[str]:
    p, queue, busy = key_enterprise_queue()
    decisions = Scheduler("zhisuan", priority_weights=weights).decide(queue, [PoolState(p, (busy,))], now=10)
    return {d.job_id for d in decisions if isinstance(d, Placement)}


def test_a_key_enterprise_weight_places_its_job_before_an_equal_ordinary_one() -> None:
    assert _placed(None) == {"plain"}  # equal work: the earlier job
    assert _placed({"k": 1.0}) == {"plain"}  # weight 1 is the pack's default: no priority
    assert _placed({"k": 2.0}) == {"key"}  # art. 8 on: the key enterprise's work counts half


def test_a_priority_weight_must_be_positive() -> None:
    p, queue, busy = key_enterprise_queue()
    with pytest.raises(ValidationError, match="priority weight"):
        Scheduler("zhisuan", priority_weights={"k": 0.0}).decide(queue, [PoolState(p, (busy,))], now=10)


def test_key_enterprise_priority_never_bypasses_the_oldest_jobs_reservation() -> None:
    # a sustained stream of key enterprises' jobs with a hundredfold weight: an ordinary firm's job
    # that would always come last in the order still starts once it is the oldest job waiting (its
    # head reservation), within one run time of the key jobs submitted before it
    prov, jobs = sustained_overload(10**9)  # the gang job never comes
    plain = job("plain", org="b", cards=1, runtime=800, submit=3000)
    keys = {f"o{i}": 100.0 for i in range(3)}
    result = {
        r.job_id: r for r in simulate(trace(*jobs.jobs, plain), prov, "zhisuan", priority_weights=keys).jobs
    }
    start = result["plain"].start_s
    assert start is not None
    before = max(r.start_s or 0 for r in result.values() if r.job_id != "plain" and r.submit_s < 3000)
    assert start <= before + 400
    assert start < 20_000, "it did not wait for the stream (30,000 s) to end"
    queued_then = sum(1 for r in result.values() if r.submit_s <= 3000 and (r.start_s or 0) > 3000)
    assert queued_then > 20, "the province really was overloaded when the job came"
