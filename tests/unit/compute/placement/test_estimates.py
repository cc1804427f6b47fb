"""Run-time estimates from each organization's history, and how ``zhisuan`` orders by them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.factories.compute import job, pool, province, trace
from zhisuan.compute.placement import Federation, RunTimeHistory
from zhisuan.compute.simulator import simulate
from zhisuan.core.errors import ValidationError


def test_requests_stand_until_an_organization_has_enough_finished_jobs() -> None:
    h = RunTimeHistory(min_jobs=3)
    h.observe("lab", 1000, 125)
    h.observe("lab", 1000, 125)
    assert h.jobs("lab") == 2
    assert h.estimate("lab", 1000) == 1000
    h.observe("lab", 1000, 125)
    assert h.ratio("lab") == 0.125
    assert h.estimate("lab", 1000) == 125
    assert h.estimate("someone-else", 1000) == 1000  # one organization's history is its own


def test_the_estimate_is_a_high_quantile_over_the_last_window_of_jobs() -> None:
    h = RunTimeHistory(window=10, min_jobs=1)
    for actual in (125,) * 8 + (250, 250):  # the 90th percentile of ten ratios: the one at index 9
        h.observe("lab", 1000, actual)
    assert h.ratio("lab") == 0.25
    for actual in (500,) * 10:  # the window forgets the old jobs
        h.observe("lab", 1000, actual)
    assert h.jobs("lab") == 10
    assert h.ratio("lab") == 0.5
    median = RunTimeHistory(window=3, min_jobs=1, quantile=0.5)
    for actual in (125, 250, 10_000):
        median.observe("lab", 1000, actual)
    assert median.ratio("lab") == 0.25


def test_the_factor_moves_in_steps_of_a_quarter_doubling() -> None:
    h = RunTimeHistory(min_jobs=1)
    h.observe("lab", 1000, 100)  # 0.1: between 2 ** -3.5 and 2 ** -3.25, nearer the second
    assert h.ratio("lab") == 2**-3.25
    h.observe("lab", 1000, 110)  # the median 0.105 rounds to the same step: nothing to re-estimate
    assert h.ratio("lab") == 2**-3.25


def test_the_ratio_is_clamped() -> None:
    h = RunTimeHistory(min_jobs=1, low=0.25, high=2.0)
    h.observe("tiny", 100_000, 1)
    h.observe("long", 10, 1000)
    assert h.estimate("tiny", 1000) == 250
    assert h.estimate("long", 1000) == 2000


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"window": 0}, "window"),
        ({"window": 4, "min_jobs": 5}, "min_jobs"),
        ({"low": 2.0}, "low"),
        ({"quantile": 1.5}, "quantile"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(kw: dict[str, float], field: str) -> None:
    with pytest.raises(ValidationError) as e:
        RunTimeHistory(**kw)  # type: ignore[arg-type]
    assert e.value.field == field


def test_a_run_time_below_one_second_is_refused() -> None:
    with pytest.raises(ValidationError):
        RunTimeHistory().observe("lab", 0, 10)


@given(
    st.lists(st.tuples(st.integers(1, 10**7), st.integers(1, 10**7)), min_size=1, max_size=40),
    st.integers(1, 10**7),
    st.integers(1, 10**7),
)
def test_estimates_stay_within_the_bounds_and_keep_the_order_of_requests(
    seen: list[tuple[int, int]], a: int, b: int
) -> None:
    h = RunTimeHistory(window=16, min_jobs=1)
    for asked, ran in seen:
        h.observe("lab", asked, ran)
    assert h.low <= h.ratio("lab") <= h.high
    for req in (a, b):
        assert max(1, h.low * req - 1) <= h.estimate("lab", req) <= h.high * req + 1
    if a <= b:
        assert h.estimate("lab", a) <= h.estimate("lab", b)


def padded_queue():  # type: ignore[no-untyped-def]
    # one 2-card pool busy until t=1000; the oldest job holds the reservation, then one card is left
    # for "pad" (asks 1000 s, its organization's jobs run a tenth of what they ask) or "honest" (500 s)
    prov = province(pool("p", cpn=2))
    jobs = trace(
        job("run0", cards=1, runtime=1000, submit=0),
        job("run1", cards=1, runtime=1000, submit=0),
        job("oldest", cards=1, runtime=5000, submit=1),
        job("pad", org="pad", cards=1, runtime=1000, submit=2, actual_runtime_s=100),
        job("honest", org="honest", cards=1, runtime=500, submit=3),
    )
    return prov, jobs


def padded_history() -> RunTimeHistory:
    h = RunTimeHistory(min_jobs=2)
    for _ in range(2):
        h.observe("pad", 1000, 125)
        h.observe("honest", 500, 500)
    return h


def test_zhisuan_orders_by_the_estimate_from_history_not_the_request() -> None:
    prov, jobs = padded_queue()
    learned = {r.job_id: r.start_s for r in simulate(jobs, prov, "zhisuan", history=padded_history()).jobs}
    fresh = {r.job_id: r.start_s for r in simulate(jobs, prov, "zhisuan").jobs}
    assert learned["oldest"] == fresh["oldest"] == 1000
    # by history the padded request is 125 s of work against 500: it goes first ...
    assert learned["pad"] == 1000
    assert (learned["honest"] or 0) > 1000
    # ... by the requests alone the honest job is the smaller one
    assert fresh["honest"] == 1000
    assert (fresh["pad"] or 0) > 1000


def test_pooled_ideal_ignores_the_history() -> None:
    prov, jobs = padded_queue()
    with_h = {
        r.job_id: r.start_s for r in simulate(jobs, prov, "pooled-ideal", history=padded_history()).jobs
    }
    without = {r.job_id: r.start_s for r in simulate(jobs, prov, "pooled-ideal").jobs}
    assert with_h == without


def test_the_simulator_learns_from_the_jobs_that_complete() -> None:
    prov = province(pool("p", cpn=8))
    jobs = trace(
        *(job(f"p{i}", org="pad", runtime=4000, submit=i * 10, actual_runtime_s=500) for i in range(10)),
        *(job(f"h{i}", org="honest", runtime=300, submit=i * 10) for i in range(10)),
    )
    h = RunTimeHistory(min_jobs=5)
    result = simulate(jobs, prov, "zhisuan", history=h)
    assert all(r.end_s is not None and r.start_s is not None for r in result.jobs)
    # a job still runs for its true time, whatever was asked
    pad = next(r for r in result.jobs if r.job_id == "p0")
    assert pad.end_s is not None and pad.start_s is not None
    assert pad.end_s - pad.start_s == 500
    assert h.jobs("pad") == h.jobs("honest") == 10
    assert h.ratio("pad") == 0.125
    assert h.ratio("honest") == 1.0


def test_jobs_queued_before_the_history_changed_are_re_estimated_with_it() -> None:
    # one card; "pad" queued its job while its history was still empty (estimate = its 1000 s ask),
    # then its finished jobs showed it asks eight times too much: at the next pass its queued job is
    # 125 s of work, less than the honest 500 s job queued after the change
    h = RunTimeHistory(min_jobs=2)
    fed = Federation("zhisuan", [pool("p", cpn=1)], history=h)
    assert fed.submit(job("pad", org="pad", runtime=1000, actual_runtime_s=125)) is None
    h.observe("pad", 1000, 125)
    h.observe("pad", 1000, 125)
    assert fed.submit(job("honest", org="honest", runtime=500)) is None
    (started,) = fed.schedule(0)
    assert started.job.id == "pad"
    assert started.end_s == 125  # it runs its true time
