import dataclasses
import datetime as dt
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from zhisuan.core.clock import Month
from zhisuan.core.ids import OrgId
from zhisuan.core.orgs import Ownership, OwnershipGraph
from zhisuan.metering.settlement import policy_evaluator
from zhisuan.metering.vouchers import OrgFacts, PaidLine, VoucherStatus, Waiting, settle
from zhisuan.policy import apply_budget, load_pack_set

JUNE = Month(2025, 6)
ORGS = {1: OrgFacts(1, "340100", True), 2: OrgFacts(2, "341300", True), 3: OrgFacts(3, "000000", False)}
OPERATOR = 9
GRAPH = OwnershipGraph.of([Ownership(OrgId(9), OrgId(2), Fraction(1, 4))])  # 25%: related party
EVALUATE = policy_evaluator(load_pack_set())


def budget(claims, left, mode):
    return apply_budget(list(claims), left, mode)


def line(i, org, fen, month=JUNE):
    return PaidLine(i, org, 1, OPERATOR, month, month.first_day, fen, dt.date(2025, 7, 1))


def test_policy_engine_decides_and_exclusions_hold():
    out = settle(
        JUNE,
        [line(1, 1, 100_000), line(2, 2, 100_000), line(3, 3, 100_000), line(4, 9, 100_000)],
        {**ORGS, 9: OrgFacts(9, "340100", True)},
        GRAPH,
        EVALUATE,
        budget,
        {2025: 10**9},
        {},
    )
    got = {v.org_id: (v.status, v.amount_fen) for v in out}
    assert got == {
        1: (VoucherStatus.GRANTED, 20_000),
        2: (VoucherStatus.INELIGIBLE, 0),
        3: (VoucherStatus.INELIGIBLE, 0),
        9: (VoucherStatus.INELIGIBLE, 0),
    }
    assert out[0].steps[0]["rule"] == "self_use"
    assert any(s["rule"] == "budget" for s in out[0].steps)


def test_queued_remainder_becomes_a_new_part_and_nothing_overspends():
    out = settle(
        JUNE, [line(1, 1, 100_000), line(2, 1, 100_000)], ORGS, GRAPH, EVALUATE, budget, {2025: 30_000}, {}
    )
    parts = sorted((v.bill_line_id, v.part, v.status, v.amount_fen, v.entitled_fen) for v in out)
    assert parts == [
        (1, 0, VoucherStatus.GRANTED, 20_000, 20_000),
        (2, 0, VoucherStatus.GRANTED, 10_000, 10_000),
        (2, 1, VoucherStatus.QUEUED, 0, 10_000),
    ]
    later = settle(
        Month(2025, 7),
        [],
        ORGS,
        GRAPH,
        EVALUATE,
        budget,
        {2025: 50_000},
        {},
        waiting=[Waiting(77, 2, 1, 1, 2025, 10_000)],
    )
    assert [(v.existing_id, v.status, v.amount_fen) for v in later] == [(77, VoucherStatus.GRANTED, 10_000)]


def test_pro_rated_mode_scales_down_to_the_fen():
    def pro_rated(case):
        return [dataclasses.replace(a, budget_mode="pro_rated") for a in EVALUATE(case)]

    out = settle(
        JUNE, [line(1, 1, 100_000), line(2, 1, 50_000)], ORGS, GRAPH, pro_rated, budget, {2025: 10_000}, {}
    )
    assert [(v.status, v.amount_fen) for v in out] == [
        (VoucherStatus.PRO_RATED, 6_666),
        (VoucherStatus.PRO_RATED, 3_333),
    ]
    assert sum(v.amount_fen for v in out) <= 10_000


def test_correction_claws_back_no_more_than_granted_and_outside_validity_is_not_in_force():
    out = settle(JUNE, [line(1, 1, -50_000)], ORGS, GRAPH, EVALUATE, budget, {2025: 0}, {(1, 2025): 4_000})
    assert [(v.status, v.amount_fen, v.adjustment) for v in out] == [(VoucherStatus.CLAWBACK, -4_000, True)]
    oct23 = Month(2023, 10)  # before the 2023 pack starts (2023-11-08)
    out = settle(oct23, [line(1, 1, 100_000, oct23)], ORGS, GRAPH, EVALUATE, budget, {2023: 10**9}, {})
    assert [(v.status, v.amount_fen) for v in out] == [(VoucherStatus.NOT_IN_FORCE, 0)]


def test_no_money_on_a_provisional_parameter_the_estimate_is_kept_and_marked() -> None:
    jan26 = Month(2026, 1)  # 2.0 art. 3: rate, cap and exclusions are provisional placeholders
    out = settle(jan26, [line(1, 1, 100_000, jan26)], ORGS, GRAPH, EVALUATE, budget, {2026: 10**9}, {})
    [vl] = out
    assert (vl.status, vl.entitled_fen, vl.amount_fen, vl.pack) == (
        VoucherStatus.PROVISIONAL,
        20_000,
        0,
        "anhui-2025",
    )
    assert any("no money until confirmed" in r and "rate" in r for r in vl.reasons)
    assert vl.steps[-1]["rule"] == "provisional"


def test_annual_cap_from_the_pack_limits_the_year_across_lines():
    from zhisuan.policy import PackSet, builtin_pack_dir, parse_pack

    text = (builtin_pack_dir() / "anhui-2023.yaml").read_text(encoding="utf-8")
    marker = "      annual_cap_per_org:\n        type: money\n        value: null"
    assert marker in text
    capped = PackSet([parse_pack(text.replace(marker, marker.replace("null", '"300.00"')), "capped.yaml")])
    evaluate = policy_evaluator(capped)
    out = settle(
        JUNE,
        [line(1, 1, 100_000), line(2, 1, 100_000)],
        ORGS,
        GRAPH,
        evaluate,
        budget,
        {2025: 10**9},
        {(1, 2025): 5_000},
    )
    # cap 300 yuan a year, 50 already granted: 200 + 50, then nothing
    assert [(v.bill_line_id, v.amount_fen) for v in out] == [(1, 20_000), (2, 5_000)]


def _capped_packs():
    from zhisuan.policy import PackSet, builtin_pack_dir, parse_pack

    text = (builtin_pack_dir() / "anhui-2023.yaml").read_text(encoding="utf-8")
    marker = "      annual_cap_per_org:\n        type: money\n        value: null"
    return PackSet([parse_pack(text.replace(marker, marker.replace("null", '"300.00"')), "capped.yaml")])


PACKS = {"shipped": load_pack_set(), "capped": _capped_packs()}


@settings(max_examples=60, deadline=None)
@given(
    packs=st.sampled_from(sorted(PACKS)),
    rows=st.lists(
        st.tuples(
            st.sampled_from([1, 2, 3, 9]),  # 2 is related to the operator (self-use), 3 out of province
            st.sampled_from([100_000, 99, 30_000, -5_000, 100_000, 0]),  # repeats: cases that are equal
            st.sampled_from([JUNE, Month(2025, 5), Month(2025, 9)]),  # 2023 pack, then the 2.0 pack
        ),
        max_size=25,
    ),
    left=st.sampled_from([10**9, 30_000, 0]),
    already=st.sampled_from([0, 5_000, 29_000]),
)
def test_each_distinct_case_evaluated_once_settles_as_one_evaluation_per_line(packs, rows, left, already):
    """The settlement's evaluator asks the engine once per distinct case; the voucher lines (amounts to
    the fen, statuses, steps and reasons) are those of asking it afresh for every line."""
    pack_set = PACKS[packs]
    orgs = {**ORGS, 9: OrgFacts(9, "340100", True)}
    lines = [line(i, org, fen, month) for i, (org, fen, month) in enumerate(rows, start=1) if fen]

    def afresh(case):
        return policy_evaluator(pack_set)(case)  # nothing shared with any other line

    def run(evaluate):
        september = Month(2025, 9)
        return settle(september, lines, orgs, GRAPH, evaluate, budget, {2025: left}, {(1, 2025): already})

    once, each = run(policy_evaluator(pack_set)), run(afresh)
    assert [dataclasses.asdict(v) for v in once] == [dataclasses.asdict(v) for v in each]
    spend = {ln.bill_line_id: ln.gross_fen for ln in lines}
    for v in once:
        assert v.amount_fen <= max(spend[v.bill_line_id], 0)  # never more than the spend
        if v.org_id in (2, 3, 9):  # self-use, out of province, the operator itself: never
            assert v.amount_fen == 0
    settled = [(v.bill_line_id, v.program, v.part) for v in once]
    assert len(settled) == len(set(settled))  # each bill line settled once (per program and part)
    if packs == "capped":
        # the annual cap holds on the net: a clawback on a credit line frees what it takes back
        assert sum(v.amount_fen for v in once if v.org_id == 1) + already <= 30_000
