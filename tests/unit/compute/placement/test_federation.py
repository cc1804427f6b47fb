"""The placement package through its entry points (Federation under the simulator, Scheduler.decide):
policies, the queue (gangs, backfill, fairness) and commitments (quotas, budgets)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories.compute import accounted, job, max_cards_in_use, pool, province, trace
from zhisuan.compute import placement
from zhisuan.compute.model import AcceleratorConstraint, JobState
from zhisuan.compute.placement import (
    POLICIES,
    Federation,
    Hold,
    HoldKind,
    MonthUsage,
    Placement,
    PoolState,
    Quota,
    RunningJob,
    Scheduler,
    policy_info,
)
from zhisuan.compute.placement.reservations import Reservations
from zhisuan.compute.province import OrgSpec
from zhisuan.compute.simulator import simulate
from zhisuan.core.errors import NotFoundError
from zhisuan.core.money import Money

ALL = list(POLICIES)


def three_centers():  # type: ignore[no-untyped-def]
    return province(
        pool("a1", "ca", nodes=2, model="a100-sxm4-80gb", price="16"),
        pool("b1", "cb", nodes=1, model="h100-sxm5-80gb", price="28", city="340200"),
        pool("b2", "cb", nodes=2, model="ascend-910b3", price="11", city="340200"),
        pool("c1", "cc", nodes=4, model="hygon-dcu-k100-ai", price="7", city="341300"),
    )


def busy_trace(n: int = 120, orgs: int = 5):  # type: ignore[no-untyped-def]
    jobs = []
    for i in range(n):
        cards = (1, 1, 2, 4, 8, 16)[i % 6]
        jobs.append(
            job(f"j{i}", org=f"o{i % orgs}", cards=cards, runtime=300 + (i * 37) % 2000, submit=i * 20)
        )
    return trace(*jobs)


def test_policies_are_selected_by_name() -> None:
    assert set(ALL) == {"user-choice", "round-robin", "least-loaded", "pooled-ideal", "zhisuan"}
    assert policy_info("zhisuan").late_binding
    assert not policy_info("user-choice").late_binding
    with pytest.raises(NotFoundError, match="zhisuan"):
        policy_info("random")


def test_user_choice_never_leaves_the_home_center() -> None:
    prov = three_centers()
    fed = Federation("user-choice", prov.pools, seed=3)
    result = simulate(busy_trace(), prov, "user-choice", seed=3)
    for r in result.jobs:
        if r.center_id is not None:
            assert r.center_id == fed.home_center(r.org)
        else:
            assert "home center" in r.reason


def test_user_choice_homes_follow_capacity_weighted_hash() -> None:
    prov = province(pool("big", "cbig", nodes=64, model="h100-sxm5-80gb"), pool("small", "csmall", nodes=1))
    fed = Federation("user-choice", prov.pools, seed=1)
    homes = [fed.home_center(f"org{i}") for i in range(200)]
    assert homes.count("cbig") > 180  # ~99.5% of the capacity
    assert homes == [Federation("user-choice", prov.pools, seed=1).home_center(f"org{i}") for i in range(200)]


@pytest.mark.parametrize("policy", ALL)
def test_no_pool_ever_holds_more_cards_than_it_has(policy: str) -> None:
    prov = three_centers()
    result = simulate(busy_trace(), prov, policy)
    caps = {p.id: p.cards for p in prov.pools}
    for pid, peak in max_cards_in_use(result, prov).items():
        assert peak <= caps[pid]
    assert accounted(result)


@pytest.mark.parametrize("policy", ALL)
def test_gang_jobs_start_all_cards_at_once(policy: str) -> None:
    prov = three_centers()
    starts: list[placement.Start] = []
    simulate(busy_trace(), prov, policy, on_start=starts.append)
    assert len({s.job.id for s in starts}) == len(starts)  # one start per job: never piecemeal
    for s in starts:
        assert s.cards == s.job.cards
        assert s.end_s - s.start_s >= 1


@pytest.fixture
def reservations(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Record the first shadow time each job is promised."""
    seen: dict[str, int] = {}
    original = Reservations.reserve

    def spy(self: Reservations, job: placement._Job, now: int, **kw: str) -> placement._Reservation | None:
        res = original(self, job, now, **kw)
        if res is not None:
            seen.setdefault(job.spec.id, res.shadow)
        return res

    monkeypatch.setattr(Reservations, "reserve", spy)
    return seen


@pytest.mark.parametrize("policy", ALL)
def test_backfill_never_delays_the_reserved_job(policy: str, reservations: dict[str, int]) -> None:
    prov = three_centers()
    result = simulate(busy_trace(240), prov, policy)
    assert reservations, "the trace is busy enough that some job had to wait for a reservation"
    starts = {r.job_id: r.start_s for r in result.jobs}
    for job_id, shadow in reservations.items():
        start = starts[job_id]
        assert start is not None
        assert start <= shadow, f"{job_id} was promised t={shadow} but started at t={start}"


def test_backfill_fills_holes_without_touching_the_head() -> None:
    # one 8-card pool: a 6-card job runs to t=1000; an 8-card job must wait for it (reserved at 1000);
    # a short 2-card job fits before 1000 and backfills; a long 2-card job would delay the head and waits.
    prov = province(pool("p", nodes=1))
    jobs = trace(
        job("running", cards=6, runtime=1000, submit=0),
        job("head", cards=8, runtime=500, submit=1),
        job("long", cards=2, runtime=5000, submit=2),
        job("short", cards=2, runtime=300, submit=3),
    )
    result = {r.job_id: r for r in simulate(jobs, prov, "pooled-ideal").jobs}
    assert result["head"].start_s == 1000
    assert result["short"].start_s == 3
    assert result["long"].start_s == 1500


@pytest.mark.parametrize("policy", ALL)
def test_same_seed_same_result(policy: str) -> None:
    prov = three_centers()
    a = simulate(busy_trace(), prov, policy, seed=7, failure_rate=0.1)
    b = simulate(busy_trace(), prov, policy, seed=7, failure_rate=0.1)
    assert a.jobs == b.jobs
    drop = ("wall_s", "cpu_s")
    assert {k: v for k, v in a.metrics.items() if k not in drop} == {
        k: v for k, v in b.metrics.items() if k not in drop
    }


def test_a_big_job_is_not_starved_by_a_stream_of_small_ones() -> None:
    # org "small" keeps one 8-card pool busy with 1-card jobs; org "big" wants all 8 cards at once.
    prov = province(pool("p", nodes=1))
    stream = [job(f"s{i}", org="small", cards=1, runtime=400, submit=i * 50) for i in range(2000)]
    big = job("big", org="big", cards=8, runtime=100, submit=60)
    aging = 3600
    result = simulate(trace(*stream, big), prov, "zhisuan", aging_s=aging)
    r = next(r for r in result.jobs if r.job_id == "big")
    assert r.start_s is not None
    # bounded: the aging bound, plus one reservation cycle of the longest running job
    assert r.start_s - r.submit_s <= aging + 2 * 400


def test_fair_share_lets_a_light_org_past_a_heavy_one() -> None:
    prov = province(pool("p", nodes=1, cpn=4))
    heavy = [job(f"h{i}", org="heavy", cards=1, runtime=1000, submit=0) for i in range(40)]
    light = job("l0", org="light", cards=1, runtime=1000, submit=5)
    result = {r.job_id: r for r in simulate(trace(*heavy, light), prov, "zhisuan").jobs}
    fifo = {r.job_id: r for r in simulate(trace(*heavy, light), prov, "pooled-ideal").jobs}
    assert result["l0"].start_s == 1000  # first free card after the initial four
    assert (fifo["l0"].start_s or 0) > (result["l0"].start_s or 0)


def test_zhisuan_prefers_the_cheaper_pool_for_the_same_speed() -> None:
    prov = province(
        pool("dear", "c1", model="a100-sxm4-80gb", price="30"),
        pool("cheap", "c2", model="a800-sxm4-80gb", price="12"),
    )
    result = simulate(trace(job("j", cards=1)), prov, "zhisuan")
    assert result.jobs[0].pool_id == "cheap"
    ideal = simulate(trace(job("j", cards=1)), prov, "pooled-ideal")
    assert ideal.jobs[0].pool_id == "dear"  # same speed: first pool, price does not matter to it


def test_data_locality_keeps_a_job_near_its_data() -> None:
    prov = province(
        pool("hf", "c-hf", model="a100-sxm4-80gb", price="10", city="340100"),
        pool("wh", "c-wh", model="a100-sxm4-80gb", price="10", city="340200"),
    )
    near_wh = job("j", cards=1, data_city="340200")
    assert simulate(trace(near_wh), prov, "zhisuan").jobs[0].pool_id == "wh"
    at_center = job("k", cards=1, data_center="c-hf")
    assert simulate(trace(at_center), prov, "zhisuan").jobs[0].pool_id == "hf"


def test_concurrent_card_quota_holds_jobs_with_a_reason() -> None:
    prov = province(pool("p", nodes=4), orgs=(OrgSpec("a", "A", quota=Quota(max_cards=4)),))
    jobs = trace(*[job(f"j{i}", org="a", cards=2, runtime=100) for i in range(6)])
    result = simulate(jobs, prov, "zhisuan")
    peak = 0
    events = sorted(
        [(r.start_s, 2) for r in result.jobs] + [(r.end_s, -2) for r in result.jobs],
        key=lambda e: (e[0], e[1]),
    )
    level = 0
    for _t, d in events:
        level += d
        peak = max(peak, level)
    assert peak == 4
    decisions = Scheduler("zhisuan", quotas={"a": Quota(max_cards=4)}).decide(
        list(jobs.jobs), [PoolState(prov.pools[0])], now=0
    )
    holds = [d for d in decisions if isinstance(d, Hold)]
    assert len(holds) == 4
    assert any(h.reason.kind is HoldKind.QUOTA for h in holds)


def test_a_job_wider_than_its_quota_is_refused_not_queued() -> None:
    prov = province(pool("p", nodes=4), orgs=(OrgSpec("a", "A", quota=Quota(max_cards=4)),))
    result = simulate(trace(job("wide", org="a", cards=8)), prov, "zhisuan")
    assert result.jobs[0].state is JobState.CANCELLED
    assert "at most 4 cards" in result.jobs[0].reason


def test_per_model_quota_steers_jobs_to_other_models() -> None:
    prov = province(
        pool("h", "c1", model="h100-sxm5-80gb", price="10"),
        pool("a", "c2", model="a100-sxm4-80gb", price="10"),
        orgs=(OrgSpec("o", "O", quota=Quota(max_cards_by_model={"h100-sxm5-80gb": 2})),),
    )
    jobs = trace(*[job(f"j{i}", org="o", cards=1, runtime=1000) for i in range(4)])
    pools = [r.pool_id for r in simulate(jobs, prov, "zhisuan").jobs]
    assert pools.count("h") == 2
    assert pools.count("a") == 2


def test_monthly_card_hour_budget_waits_for_the_next_month() -> None:
    quota = Quota(monthly_card_hours=Decimal("1.5"))
    prov = province(pool("p", nodes=1), orgs=(OrgSpec("o", "O", quota=quota),))
    jobs = trace(
        job("first", org="o", cards=1, runtime=3600), job("second", org="o", cards=1, runtime=3600, submit=1)
    )
    # the trace starts at Unix 0 (1970-01-01 08:00 Shanghai): the next month starts 31 days later, minus 8 h
    result = {r.job_id: r for r in simulate(jobs, prov, "zhisuan").jobs}
    assert result["first"].start_s == 0
    assert result["second"].start_s == 31 * 86400 - 8 * 3600


def test_scheduler_decide_over_plain_values() -> None:
    p1, p2 = pool("p1", "c1", nodes=1), pool("p2", "c2", nodes=1, model="ascend-910b3")
    running = (RunningJob("r", "x", 8, end_s=500),)
    queue = [
        job("fits", cards=4, submit=0),
        job("nvidia-only", cards=8, submit=1, constraint=AcceleratorConstraint.model("a100-sxm4-80gb")),
        job("never", cards=64, submit=2),
    ]
    out = Scheduler("zhisuan").decide(
        queue, [PoolState(p1, running), PoolState(p2)], now=100, month_usage={"a": MonthUsage()}
    )
    by_id = {d.job_id: d for d in out}
    assert [d.job_id for d in out] == ["fits", "nvidia-only", "never"]
    fits = by_id["fits"]
    assert isinstance(fits, Placement)
    assert fits.pool_id == "p2"
    assert fits.start_s == 100
    held = by_id["nvidia-only"]
    assert isinstance(held, Hold)
    assert held.reason.kind is HoldKind.RESERVED
    assert "reserved p1" in held.reason.text()
    never = by_id["never"]
    assert isinstance(never, Hold)
    assert never.unrunnable
    assert "64 cards" in never.reason.text()


def test_budget_in_yuan_is_checked_at_dispatch() -> None:
    p = pool("p", nodes=1, price="10")
    quotas = {"a": Quota(monthly_budget_yuan=Money("100"))}
    usage = {"a": MonthUsage(yuan=Money("95"))}
    out = Scheduler("zhisuan", quotas=quotas).decide(
        [job("j", cards=1, runtime=3600)], [PoolState(p)], 0, usage
    )
    assert isinstance(out[0], Hold)
    assert out[0].reason.kind is HoldKind.BUDGET
    assert "budget" in out[0].reason.text()


@pytest.mark.parametrize("policy", ALL)
def test_jobs_submitted_in_the_same_second_keep_the_callers_order_past_a_digit_boundary(
    policy: str,
) -> None:
    """The live scheduler hands jobs over by (submitted, database id); ids are text, and "100" must
    not overtake "99" when only one of them fits."""
    p = pool("p", nodes=1)
    queue = [job("99", cards=8, submit=5), job("100", cards=8, submit=5)]
    out = Scheduler(policy).decide(queue, [PoolState(p)], now=5)
    placed = [d.job_id for d in out if isinstance(d, Placement)]
    assert placed == ["99"]


small_jobs = st.lists(
    st.tuples(
        st.integers(0, 2000),  # submit
        st.sampled_from([1, 1, 2, 4, 8, 16]),  # cards
        st.integers(1, 3000),  # runtime
        st.sampled_from(["a", "b", "c"]),  # org
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_jobs, st.sampled_from(ALL), st.integers(0, 3))
def test_random_small_traces_keep_every_invariant(
    raw: list[tuple[int, int, int, str]], policy: str, seed: int
) -> None:
    prov = province(
        pool("x", "c1", nodes=1, model="a100-sxm4-80gb"),
        pool("y", "c2", nodes=2, model="ascend-910b3", city="340200"),
    )
    jobs = trace(*[job(f"j{i}", org=o, cards=c, runtime=rt, submit=s) for i, (s, c, rt, o) in enumerate(raw)])
    result = simulate(jobs, prov, policy, seed=seed)
    caps = {p.id: p.cards for p in prov.pools}
    for pid, peak in max_cards_in_use(result, prov).items():
        assert peak <= caps[pid]
    assert accounted(result)
    for r in result.jobs:
        if r.start_s is not None:
            assert r.start_s >= r.submit_s
            assert r.end_s is not None
            assert r.end_s > r.start_s
    assert result.jobs == simulate(jobs, prov, policy, seed=seed).jobs


def test_a_job_bigger_than_a_whole_monthly_budget_is_refused() -> None:
    quota = Quota(monthly_card_hours=Decimal("1"))
    prov = province(pool("p", nodes=1), orgs=(OrgSpec("o", "O", quota=quota),))
    result = simulate(trace(job("huge", org="o", cards=2, runtime=3600)), prov, "zhisuan")
    assert result.jobs[0].state is JobState.CANCELLED
    assert "card-hours" in result.jobs[0].reason


def test_patience_waits_for_a_cheaper_pool_then_takes_the_dear_one() -> None:
    from zhisuan.compute.placement import Weights

    prov = province(
        pool("cheap", "c1", model="l40s-48gb", price="9.50", cpn=1),
        pool("dear", "c2", model="h20-96gb", price="9.00", cpn=1),
    )
    jobs = trace(job("blocker", cards=1, runtime=5000, submit=0), job("j", cards=1, runtime=3000, submit=1))
    w = Weights(patience_s=500, patience_ratio=1.0)
    result = {r.job_id: r for r in simulate(jobs, prov, "zhisuan", weights=w).jobs}
    assert result["blocker"].pool_id == "cheap"
    assert result["j"].pool_id == "dear"
    assert result["j"].start_s == 501  # waited out its patience, woken by the simulator
    eager = {r.job_id: r for r in simulate(jobs, prov, "zhisuan").jobs}
    assert eager["j"].start_s == 1


@pytest.mark.parametrize("max_wait", [0, 600])
def test_waiting_for_a_faster_pool_keeps_the_invariants(max_wait: int) -> None:
    from zhisuan.compute.placement import Weights

    prov = three_centers()
    result = simulate(busy_trace(), prov, "zhisuan", weights=Weights(max_wait_s=max_wait))
    caps = {p.id: p.cards for p in prov.pools}
    for pid, peak in max_cards_in_use(result, prov).items():
        assert peak <= caps[pid]
    assert accounted(result)
