from __future__ import annotations

from fractions import Fraction

from tests.factories.compute import FlatVoucher, job, pool, province, trace
from zhisuan.compute.model import Center, JobState, PriceBand
from zhisuan.compute.province import OrgSpec, Province
from zhisuan.compute.simulator import METRIC_KEYS, jain, simulate
from zhisuan.core.money import Money


def test_metrics_have_every_key_and_sane_ranges() -> None:
    prov = province(pool("p", "c1", nodes=2), pool("q", "c2", nodes=1, model="ascend-910b3"))
    jobs = trace(
        *[
            job(f"j{i}", org=f"o{i % 3}", cards=(1, 2, 8)[i % 3], runtime=600, submit=i * 30)
            for i in range(50)
        ]
    )
    m = simulate(jobs, prov, "zhisuan").metrics
    for key in METRIC_KEYS:
        assert key in m
    assert m["completed"] == 50
    assert 0 < float(m["utilization"]) <= 1  # type: ignore[arg-type]
    assert set(m["utilization_by_center"]) == {"c1", "c2"}  # type: ignore[arg-type]
    assert 0 < float(m["jain_fairness"]) <= 1  # type: ignore[arg-type]
    assert float(m["jct_p50_s"]) <= float(m["jct_p95_s"]) <= float(m["jct_p99_s"])  # type: ignore[arg-type]


def test_costs_are_exact_and_the_voucher_is_a_fifth_except_self_use() -> None:
    # one card-hour at 10 yuan on an A100 for an outside org; one for the operator itself
    prov = Province(
        "t",
        "t",
        "340000",
        (Center("c", "C", "340100", "Op", "", (pool("p", "c", price="10", operator="opco"),)),),
        (OrgSpec("opco", "Op Co"), OrgSpec("user", "User")),
    )
    jobs = trace(job("outside", org="user", runtime=3600), job("own", org="opco", runtime=3600))
    result = simulate(jobs, prov, "zhisuan", vouchers=FlatVoucher(Fraction(1, 5)))
    by_id = {r.job_id: r for r in result.jobs}
    assert by_id["outside"].gross == Money("10")
    assert by_id["outside"].voucher == Money("2")
    assert by_id["outside"].user_cost == Money("8")
    assert by_id["own"].voucher == Money("0")
    m = result.metrics
    assert m["gross_cost_yuan"] == "20.00"
    assert m["voucher_yuan"] == "2.00"
    assert m["user_cost_yuan"] == "18.00"
    other_rate = simulate(jobs, prov, "zhisuan", vouchers=FlatVoucher(Fraction(1, 10))).metrics
    assert other_rate["voucher_yuan"] == "1.00"
    assert simulate(jobs, prov, "zhisuan").metrics["voucher_yuan"] == "0.00"  # no estimate: no voucher


def test_night_band_prices_the_hours_it_covers() -> None:
    night = pool("p", price="10")
    banded = type(night)(
        **{**{f: getattr(night, f) for f in night.__slots__}, "bands": (PriceBand(0, 8, Money("6")),)}
    )
    prov = province(banded)
    # epoch 0 = 08:00 Shanghai; a job from 16:00 UTC (00:00 Shanghai) for 1 h is all night
    tr = trace(job("n", runtime=3600, submit=16 * 3600))
    assert simulate(tr, prov, "zhisuan").jobs[0].gross == Money("6")


def test_unrunnable_jobs_are_counted_and_listed_not_dropped() -> None:
    prov = province(pool("p", nodes=1))
    result = simulate(trace(job("ok"), job("wide", cards=64)), prov, "least-loaded")
    m = result.metrics
    assert m["unrunnable"] == 1
    assert m["unrunnable_jobs"][0]["job_id"] == "wide"  # type: ignore[index]
    assert "64 cards" in m["unrunnable_jobs"][0]["reason"]  # type: ignore[index]
    assert result.jobs[1].state is JobState.CANCELLED


def test_failed_attempts_retry_when_allowed() -> None:
    prov = province(pool("p", nodes=1))
    jobs = trace(*[job(f"j{i}", runtime=1000, retries=3) for i in range(30)])
    result = simulate(jobs, prov, "zhisuan", seed=1, failure_rate=0.3)
    assert any(r.attempts > 1 for r in result.jobs)
    for r in result.jobs:
        assert r.state in (JobState.COMPLETED, JobState.FAILED)
        assert r.attempts <= 4


def test_jain_index_bounds() -> None:
    assert jain([]) == 1.0
    assert jain([2.0, 2.0, 2.0]) == 1.0
    assert abs(jain([1.0, 0.0, 0.0, 0.0]) - 0.25) < 1e-12
