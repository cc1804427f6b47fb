"""The art. 2 estimate placement uses, from the policy pack: who bears what share of a pool's price."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from pathlib import Path

import pytest

from tests.factories.compute import job, pool
from zhisuan.compute.placement import Hold, HoldKind, MonthUsage, Placement, PoolState, Quota, Scheduler
from zhisuan.core.clock import UTC
from zhisuan.core.money import Money
from zhisuan.metering.estimate import PackVoucherEstimate
from zhisuan.policy import PackSet, load_pack_set
from zhisuan.policy.loader import builtin_pack_dir

JUNE = dt.date(2025, 6, 10)
OUTSIDE = {"shanghai-co"}  # registered outside Anhui
RELATED = {("op-sub", "op")}  # a subsidiary of the operator: a related party


@pytest.fixture(scope="module")
def packs() -> PackSet:
    return load_pack_set()


def estimate(packs: PackSet) -> PackVoucherEstimate:
    return PackVoucherEstimate(
        packs,
        in_province=lambda org: org not in OUTSIDE,
        related=lambda org, operator: (org, operator) in RELATED,
        city=lambda org: "340100",
    )


def test_an_in_province_user_bears_four_fifths(packs: PackSet) -> None:
    est = estimate(packs)
    assert est.keep("ustc", "op", JUNE) == Fraction(4, 5)
    assert est.net("ustc", "op", JUNE, Money("100")) == Money("80")
    # the bill rounds half up to the fen, the voucher rounds down: 10.005 → 10.01 − 2.00
    assert est.net("ustc", "op", JUNE, Money("10.005")) == Money("8.01")


@pytest.mark.parametrize("org", ["shanghai-co", "op", "op-sub"])
def test_out_of_province_users_the_operator_and_related_parties_get_no_voucher(
    packs: PackSet, org: str
) -> None:
    est = estimate(packs)
    assert est.keep(org, "op", JUNE) == 1
    assert est.net(org, "op", JUNE, Money("100")) == Money("100")


def test_no_voucher_when_no_article_is_in_force(packs: PackSet) -> None:
    est = estimate(packs)
    assert est.keep("ustc", "op", dt.date(2017, 9, 4)) == 1
    assert est.provisional(dt.date(2017, 9, 4)) == ()


def test_after_the_hand_over_the_estimate_follows_2_0_art3_and_says_it_is_provisional(packs: PackSet) -> None:
    est = estimate(packs)
    # 2023 art. 2 up to 2025-08-10, confirmed figures; 2.0 art. 3 from 2025-08-11 on its placeholders
    assert (est.keep("ustc", "op", dt.date(2025, 8, 10)), est.provisional(dt.date(2025, 8, 10))) == (
        Fraction(4, 5),
        (),
    )
    assert est.keep("ustc", "op", dt.date(2026, 1, 1)) == Fraction(4, 5)  # estimates may use placeholders
    assert "rate" in est.provisional(dt.date(2026, 1, 1))


@pytest.mark.parametrize(("org", "placed"), [("ustc", True), ("shanghai-co", False), ("op-sub", False)])
def test_budgets_count_the_price_the_user_really_bears(packs: PackSet, org: str, placed: bool) -> None:
    # 1 card × 5 h at 10 yuan = 50 yuan list; 55 already committed of a 100-yuan budget: 40 more fits,
    # 50 does not (out of province, or a related party of the operator: no voucher)
    now = int(dt.datetime(2025, 6, 10, 2, tzinfo=UTC).timestamp())
    quotas = {org: Quota(monthly_budget_yuan=Money("100"))}
    usage = {org: MonthUsage(yuan=Money("55"))}
    spec = job("j", org=org, cards=1, runtime=5 * 3600, submit=now)
    [decision] = Scheduler("zhisuan", quotas=quotas, vouchers=estimate(packs)).decide(
        [spec], [PoolState(pool("p", nodes=1, price="10", operator="op"))], now, usage
    )
    if placed:
        assert isinstance(decision, Placement)
    else:
        assert isinstance(decision, Hold)
        assert decision.reason.kind is HoldKind.BUDGET
        assert decision.reason.text() == (
            f"budget: {org} has committed 55.00 of 100.00 yuan this month; this job costs at least 50.00"
        )


def test_zhisuan_simulate_estimates_self_use_on_the_users_own_centers() -> None:
    from zhisuan.cli.simulate import voucher_estimate
    from zhisuan.compute.province import load_province

    est = voucher_estimate(load_province("demo"), load_pack_set())
    assert est.keep("ustc", "iflytek", JUNE) == Fraction(4, 5)
    assert est.keep("iflytek", "iflytek", JUNE) == 1


def test_a_wuhu_user_bears_the_price_less_every_program_in_force_for_wuhu(packs: PackSet) -> None:
    est = PackVoucherEstimate(
        packs,
        in_province=lambda org: True,
        related=lambda org, operator: False,
        city=lambda org: "340200" if org == "wuhu-co" else "340100",
    )
    day = dt.date(2026, 1, 15)
    # 2.0 art. 3's placeholder 20% and Wuhu's reported 25%, both provisional: dispatch may price with them
    assert est.keep("wuhu-co", "op", day) == Fraction(55, 100)
    assert est.net("wuhu-co", "op", day, Money("100")) == Money("55")
    assert est.keep("hefei-co", "op", day) == Fraction(4, 5)
    assert est.used_provisional()["wuhu-compute/art1"] == ("annual_cap_per_org", "rate")


def test_a_city_program_that_does_not_stack_leaves_the_province_share_only(tmp_path: Path) -> None:
    text = (builtin_pack_dir() / "wuhu-compute.yaml").read_text(encoding="utf-8")
    alone = tmp_path / "wuhu-alone.yaml"
    alone.write_text(
        text.replace("id: wuhu-compute\n", "id: wuhu-alone\n")
        .replace("payer: city\n", "payer: city\nnot_with: [anhui-2025/art3]\n")
        .replace("\narticles:", "\nsupersedes:\n  wuhu-compute:\n    art1: 2025-08-11\narticles:"),
        encoding="utf-8",
    )
    est = PackVoucherEstimate(
        load_pack_set(files=[alone]),
        in_province=lambda org: True,
        related=lambda org, operator: False,
        city=lambda org: "340200",
    )
    assert est.keep("wuhu-co", "op", dt.date(2026, 1, 15)) == Fraction(4, 5)
