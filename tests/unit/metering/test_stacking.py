"""Stacking programs in the pure settlement: one line per program, never more than the spend."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from zhisuan.core.clock import Month
from zhisuan.core.orgs import OwnershipGraph
from zhisuan.metering.vouchers import (
    BUDGET_PROGRAM,
    Art2Answer,
    Art2Case,
    OrgFacts,
    PaidLine,
    VoucherStatus,
    settle,
)
from zhisuan.policy import apply_budget

JUNE = Month(2025, 6)
ORGS = {1: OrgFacts(1, "340200", True)}
GRAPH = OwnershipGraph.of([])


def budget(claims, left, mode):  # type: ignore[no-untyped-def]
    return apply_budget(list(claims), left, mode)


def line(i: int, fen: int) -> PaidLine:
    return PaidLine(i, 1, 1, 9, JUNE, JUNE.first_day, fen, dt.date(2025, 7, 1))


def programs(rates: list[int], not_with: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    """An evaluator answering one program per rate (percent of the spend; the first is the province's)."""

    def run(case: Art2Case) -> list[Art2Answer]:
        return [
            Art2Answer(
                in_force=True,
                eligible=True,
                amount_fen=case.spend_fen * rate // 100,
                pack="province" if i == 0 else f"city{i}",
                article=f"art{i + 1}",
                program=BUDGET_PROGRAM if i == 0 else f"city{i}",
                not_with=not_with if i else (),
            )
            for i, rate in enumerate(rates)
        ]

    return run


def test_each_program_gets_its_own_line_part_and_budget() -> None:
    out = settle(
        JUNE,
        [line(1, 100_000)],
        ORGS,
        GRAPH,
        programs([20, 25]),
        budget,
        {2025: 10**9, (2025, "city1"): 5_000},
        {},
    )
    got = [(v.program, v.part, v.status, v.entitled_fen, v.amount_fen) for v in out]
    assert (BUDGET_PROGRAM, 0, VoucherStatus.GRANTED, 20_000, 20_000) in got
    # the city's budget holds 50 yuan: granted in part, the rest queued in the city's range of parts
    assert ("city1", 0, VoucherStatus.GRANTED, 5_000, 5_000) in got
    assert ("city1", 1, VoucherStatus.QUEUED, 20_000, 0) in got


def test_a_city_program_annual_cap_is_its_own() -> None:
    awarded = {(1, 2025): 10**9, (1, 2025, "city1"): 7}  # the province's count does not cap the city's

    def capped(case: Art2Case) -> list[Art2Answer]:
        answers = programs([20, 25])(case)
        city_so_far = dict(case.stacked_this_year_fen)["city1"]
        assert (case.subsidy_this_year_fen, city_so_far) == (10**9, 7)
        return answers

    out = settle(
        JUNE, [line(1, 100)], ORGS, GRAPH, capped, budget, {2025: 10**9, (2025, "city1"): 10**9}, awarded
    )
    assert [v.amount_fen for v in out] == [20, 25]


def test_a_program_that_does_not_stack_gives_way_to_the_earlier_one() -> None:
    out = settle(
        JUNE,
        [line(1, 100_000)],
        ORGS,
        GRAPH,
        programs([20, 25], not_with=("province/art1",)),
        budget,
        {2025: 10**9, (2025, "city1"): 10**9},
        {},
    )
    assert [(v.program, v.status, v.amount_fen) for v in out] == [
        (BUDGET_PROGRAM, VoucherStatus.GRANTED, 20_000),
        ("city1", VoucherStatus.INELIGIBLE, 0),
    ]
    assert "does not stack with province/art1" in out[1].reasons[-1]


@settings(max_examples=200, deadline=None)
@given(
    spends=st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=5),
    rates=st.lists(st.integers(min_value=0, max_value=150), min_size=1, max_size=4),
)
def test_all_programs_together_never_exceed_the_spend(spends: list[int], rates: list[int]) -> None:
    lines = [line(i, fen) for i, fen in enumerate(spends, start=1)]
    left = {2025: 10**12, **{(2025, f"city{i}"): 10**12 for i in range(1, len(rates))}}
    out = settle(JUNE, lines, ORGS, GRAPH, programs(rates), budget, left, {})
    for paid in lines:
        mine = [v for v in out if v.bill_line_id == paid.bill_line_id]
        assert len({(v.program, v.part) for v in mine}) == len(mine) == len(rates)
        assert sum(v.entitled_fen for v in mine) <= paid.gross_fen
        assert all(0 <= v.amount_fen <= v.entitled_fen for v in mine)
