from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.factories.compute import job, pool
from zhisuan.compute.model import (
    TRANSITIONS,
    AcceleratorConstraint,
    JobState,
    Pool,
    PriceBand,
    Refusal,
    Scaling,
    check_transition,
    feasible_pools,
    is_terminal,
    refusal_reason,
    seconds_by_local_hour,
)
from zhisuan.core.catalog import accelerator
from zhisuan.core.errors import ConflictError, NotFoundError, ValidationError
from zhisuan.core.money import Money


def test_constraint_by_model_set_memory_and_domestic() -> None:
    assert AcceleratorConstraint.model("h100-sxm5-80gb").satisfied_by(accelerator("h100-sxm5-80gb"))
    assert not AcceleratorConstraint.model("h100-sxm5-80gb").satisfied_by(accelerator("a100-sxm4-80gb"))
    both = AcceleratorConstraint.any_of(["ascend-910b3", "kunlunxin-p800"])
    assert both.satisfied_by(accelerator("kunlunxin-p800"))
    assert not both.satisfied_by(accelerator("h20-96gb"))
    assert AcceleratorConstraint(min_memory_gb=96).satisfied_by(accelerator("h20-96gb"))
    assert not AcceleratorConstraint(min_memory_gb=96).satisfied_by(accelerator("a100-sxm4-80gb"))
    domestic = AcceleratorConstraint(domestic_only=True)
    assert domestic.satisfied_by(accelerator("hygon-dcu-k100-ai"))
    assert not domestic.satisfied_by(accelerator("l40s-48gb"))


def test_constraint_rejects_unknown_models() -> None:
    with pytest.raises(NotFoundError):
        AcceleratorConstraint.model("gtx-1080")


@pytest.mark.parametrize(("old", "new"), [(o, n) for o in JobState for n in TRANSITIONS[o]])
def test_every_listed_transition_is_allowed(old: JobState, new: JobState) -> None:
    assert check_transition(old, new, retries_left=1) is new


@pytest.mark.parametrize(
    ("old", "new"), [(o, n) for o in JobState for n in JobState if n not in TRANSITIONS[o]]
)
def test_every_other_transition_is_refused(old: JobState, new: JobState) -> None:
    with pytest.raises(ConflictError):
        check_transition(old, new, retries_left=1)


def test_a_failed_job_requeues_only_with_retries_left() -> None:
    with pytest.raises(ConflictError, match="no retries"):
        check_transition(JobState.FAILED, JobState.QUEUED, retries_left=0)
    assert is_terminal(JobState.COMPLETED)
    assert is_terminal(JobState.CANCELLED)
    assert not is_terminal(JobState.RUNNING)


def test_runtime_scales_by_fp16_ratio_unless_measured() -> None:
    s = Scaling()
    # H100 (989 TFLOPS) vs A100 (312): 3.17× faster
    assert s.runtime(3170, "a100-sxm4-80gb", "h100-sxm5-80gb") == 1001
    assert s.runtime(100, "a100-sxm4-80gb", "a100-sxm4-80gb") == 100
    measured = Scaling({("a100-sxm4-80gb", "h100-sxm5-80gb"): Decimal("2")})
    assert measured.runtime(100, "a100-sxm4-80gb", "h100-sxm5-80gb") == 50
    assert measured.runtime(100, "h100-sxm5-80gb", "a100-sxm4-80gb") == 200  # the reverse pair


@given(st.integers(1, 10**7))
def test_scaled_runtime_is_at_least_one_second_and_never_rounds_down(seconds: int) -> None:
    rt = Scaling().runtime(seconds, "v100-sxm2-32gb", "h100-sxm5-80gb")
    assert rt >= 1
    assert rt * 989 >= seconds * 125


def test_a_pool_needs_a_rated_accelerator_and_sane_sizes() -> None:
    with pytest.raises(ValidationError) as exc:
        Pool("p", "c", "340100", "op", "mlu590", 1, 8, Money("1"))
    assert exc.value.field == "accelerator"
    with pytest.raises(ValidationError) as exc:
        pool("p", nodes=0)
    assert exc.value.field == "nodes"
    with pytest.raises(ValidationError) as exc:
        Pool("p", "c", "340100", "op", "a100-sxm4-80gb", 1, 8, Money("1.234"))
    assert exc.value.field == "price"


def test_wide_jobs_take_whole_nodes() -> None:
    p = pool("p", nodes=4, cpn=8)
    assert p.node_cards(3) == 3
    assert p.node_cards(9) == 16
    assert p.node_cards(32) == 32


def test_feasible_pools_and_refusal_reasons() -> None:
    small = pool("small", nodes=1, model="a100-sxm4-80gb")
    big = pool("big", nodes=4, model="ascend-910b3")
    assert feasible_pools(job("j", cards=16), [small, big]) == [big]
    assert refusal_reason(job("j", cards=16), [small, big]) is None
    wide = refusal_reason(job("j", cards=64), [small, big])
    assert wide is not None
    assert wide.field == "cards"
    assert "64 cards" in wide.text()
    assert "big" in wide.text()
    nvidia = refusal_reason(job("j", constraint=AcceleratorConstraint.model("h100-sxm5-80gb")), [small, big])
    assert nvidia is not None
    assert nvidia.field == "accelerators"
    assert "h100-sxm5-80gb" in nvidia.text()
    cheap = refusal_reason(job("j", price_ceiling=Money("5")), [small, big])
    assert cheap is not None
    assert (cheap.field, cheap.text()) == (
        "price_ceiling",
        "every matching pool costs more than the ceiling of 5.00 yuan/card-hour",
    )
    rushed = refusal_reason(job("j", runtime=10_000, deadline_s=100), [small, big])
    assert rushed == Refusal("deadline", "no matching pool can finish the job before its deadline")
    assert refusal_reason(job("j"), []) == Refusal("job", "the province has no pools")


def test_job_spec_validates_its_fields() -> None:
    with pytest.raises(ValidationError) as exc:
        job("j", cards=0)
    assert exc.value.field == "cards"
    with pytest.raises(ValidationError) as exc:
        job("j", submit=10, deadline_s=5)
    assert exc.value.field == "deadline_s"


def test_price_bands_apply_by_shanghai_hour() -> None:
    night = PriceBand(0, 8, Money("5"))
    p = Pool("p", "c", "340100", "op", "a100-sxm4-80gb", 1, 8, Money("10"), bands=(night,))
    # Unix 0 is 08:00 in Shanghai: one hour at the day price, one hour from 23:00 at day price,
    # and one hour from 00:00 Shanghai (16:00 UTC) at the night price.
    assert p.cost(0, 3600, 1) == Money("10")
    assert p.cost(16 * 3600, 3600, 2) == Money("10")
    assert p.cost(15 * 3600, 7200, 1) == Money("15")
    assert p.cost_fen_seconds(15 * 3600, 7200, 1) == 1500 * 3600


def test_overlapping_price_bands_are_refused() -> None:
    with pytest.raises(ValidationError, match="overlap"):
        Pool(
            "p",
            "c",
            "340100",
            "op",
            "a100-sxm4-80gb",
            1,
            8,
            Money("10"),
            bands=(PriceBand(0, 8, Money("5")), PriceBand(6, 10, Money("6"))),
        )


@given(st.integers(0, 10**9), st.integers(0, 10 * 86400))
def test_seconds_by_hour_add_up(start: int, seconds: int) -> None:
    assert sum(seconds_by_local_hour(start, seconds)) == seconds
