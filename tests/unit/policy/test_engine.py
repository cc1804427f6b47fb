"""The engine: the contract's shape, fact typing, rule conflicts, explanations."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from zhisuan.core.errors import PolicyError
from zhisuan.core.money import Money, Rounding
from zhisuan.policy import FactError, PackSet, RuleConflictError, evaluate, parse_pack
from zhisuan.policy.decision import round_pair

ART5 = {"city": "340100", "rd_cost": "1000000", "selection_mode": "directed", "in_provincial_plan": True}


def test_the_answer_has_exactly_the_contract_keys(packs: PackSet) -> None:
    d = evaluate("art5", ART5, "2024-06-30", packs).to_dict("x")
    assert list(d) == [
        "id",
        "program",
        "pack",
        "on",
        "in_force",
        "eligible",
        "amount",
        "payee",
        "case_by_case",
        "provisional",
        "steps",
        "reasons",
    ]
    assert d["amount"] == "200000.00"
    assert all(list(s) == ["article", "rule", "parameter", "value", "result"] for s in d["steps"])  # type: ignore[attr-defined]
    assert all(isinstance(v, str) for s in d["steps"] for v in s.values())  # type: ignore[attr-defined]


def test_amount_is_money_rounded_once(packs: PackSet) -> None:
    d = evaluate(
        "art1",
        {
            "city": "340100",
            "new_capacity_p": 400,
            "single_site": True,
            "completion_date": "2024-01-01",
            "city_actual_payout": "100",
        },
        "2024-06-30",
        packs,
    )
    assert d.amount == Money("33.33")
    assert any("100/3" in s.result for s in d.steps)


def test_decimal_and_integer_money_are_accepted_but_floats_are_not(packs: PackSet) -> None:
    assert (
        evaluate("art5", {**ART5, "rd_cost": Decimal("1000000.00")}, "2024-06-30", packs).amount_text
        == "200000.00"
    )
    assert (
        evaluate("art5", {**ART5, "rd_cost": 1000000}, dt.date(2024, 6, 30), packs).amount_text == "200000.00"
    )
    with pytest.raises(FactError) as err:
        evaluate("art5", {**ART5, "rd_cost": 1000000.0}, "2024-06-30", packs)
    assert err.value.field == "rd_cost"


@pytest.mark.parametrize(
    ("facts", "field"),
    [
        ({k: v for k, v in ART5.items() if k != "rd_cost"}, "rd_cost"),
        ({**ART5, "in_provincial_plan": "perhaps"}, "in_provincial_plan"),
        ({**ART5, "city": "34010"}, "city"),
        ({**ART5, "already_awarded": "1e"}, "already_awarded"),
        ({**ART5, "bonus": 1}, "bonus"),
    ],
)
def test_bad_facts_name_the_field(packs: PackSet, facts: dict[str, object], field: str) -> None:
    with pytest.raises(FactError) as err:
        evaluate("art5", facts, "2024-06-30", packs)
    assert err.value.field == field


def test_unknown_programs_and_bad_dates_are_errors(packs: PackSet) -> None:
    with pytest.raises(PolicyError) as err:
        evaluate("art99", {}, "2024-06-30", packs)
    assert err.value.field == "program"
    with pytest.raises(PolicyError) as err:
        evaluate("art5", ART5, "30/06/2024", packs)
    assert err.value.field == "on"


def test_no_policy_in_force_is_never_a_silent_zero(packs: PackSet) -> None:
    d = evaluate("art5", ART5, "2026-01-01", packs)
    assert (d.in_force, d.eligible, d.amount_text, d.pack) == (False, False, "0.00", None)
    assert "no policy in force" in d.reasons[0].en


def test_reasons_come_in_chinese_and_english(packs: PackSet) -> None:
    d = evaluate("art5", {**ART5, "in_provincial_plan": False}, "2024-06-30", packs)
    assert d.reasons[0].zh == "项目未列入省科技计划"
    assert d.to_dict(lang="en")["reasons"] == ["the project is not in the provincial S&T plan"]
    assert d.to_dict()["reasons"] == ["项目未列入省科技计划 / the project is not in the provincial S&T plan"]


def test_uplift_is_its_own_step(packs: PackSet) -> None:
    d = evaluate("art5", {**ART5, "city": "341300"}, "2024-06-30", packs)
    step = next(s for s in d.steps if s.rule == "northern_anhui_uplift")
    assert (step.parameter, step.value) == ("uplift_factor", "1.2")
    assert step.result.startswith("applied")


def test_eligibility_articles_tell_who_handles_and_what_evidence(packs: PackSet) -> None:
    d = evaluate("art3", {"in_province": True, "general_ai_enterprise": True}, "2024-06-30", packs)
    assert d.eligible and d.amount_fen == 0
    assert d.lead_unit == "省通用人工智能产业推进专班"
    assert "省数据资源局" in d.cooperating_units
    assert d.evidence


CONFLICT = """\
id: conflict
title_zh: 冲突
title_en: conflict
region: "340000"
source: tests
defaults:
  rounding: {type: rounding, value: down}
  uplift_enabled: {type: bool, value: false}
  uplift_factor: {type: rate, value: "1.2"}
  uplift_cities: {type: cities, value: ["341300"]}
articles:
  art14:
    name_zh: 标准
    name_en: standards
    effective: {from: 2024-01-01}
    lead_unit: 经信厅
    payee: applicant
    facts:
      cost: {type: money}
    parameters:
      big: {type: money, value: "1000"}
      small: {type: money, value: "100"}
      threshold: {type: money, value: "500"}
    award:
      - id: big_projects
        PRIORITY_A
        when: [{fact: cost, op: ">=", parameter: threshold}]
        base: {parameter: big}
      - id: any_project
        PRIORITY_B
        when: [{fact: cost, op: ">", value: 0}]
        base: {parameter: small}
"""


def test_two_rules_claiming_one_case_without_priority_is_an_error() -> None:
    ps = PackSet(
        [
            parse_pack(
                CONFLICT.replace("        PRIORITY_A\n", "").replace("        PRIORITY_B\n", ""), "c.yaml"
            )
        ]
    )
    assert evaluate("art14", {"cost": "100"}, "2024-06-30", ps).amount_text == "100.00"
    with pytest.raises(RuleConflictError, match="big_projects"):
        evaluate("art14", {"cost": "600"}, "2024-06-30", ps)


def test_priority_settles_a_conflict() -> None:
    text = CONFLICT.replace("PRIORITY_A", "priority: 2").replace("PRIORITY_B", "priority: 1")
    ps = PackSet([parse_pack(text, "c.yaml")])
    assert evaluate("art14", {"cost": "600"}, "2024-06-30", ps).amount_text == "1000.00"
    assert evaluate("art14", {"cost": "100"}, "2024-06-30", ps).amount_text == "100.00"


def test_an_open_ended_article_stays_in_force() -> None:
    ps = PackSet(
        [
            parse_pack(
                CONFLICT.replace("        PRIORITY_A\n", "").replace("        PRIORITY_B\n", ""), "c.yaml"
            )
        ]
    )
    assert evaluate("art14", {"cost": "1"}, "2099-01-01", ps).in_force


@pytest.mark.parametrize(
    ("n", "d", "mode", "fen"),
    [
        (5, 2, Rounding.DOWN, 2),
        (5, 2, Rounding.UP, 3),
        (5, 2, Rounding.HALF_UP, 3),
        (5, 2, Rounding.HALF_EVEN, 2),
        (7, 2, Rounding.HALF_EVEN, 4),
        (10, 3, Rounding.HALF_UP, 3),
        (11, 3, Rounding.HALF_EVEN, 4),
        (9, 3, Rounding.UP, 3),
    ],
)
def test_rounding_modes_on_exact_fen(n: int, d: int, mode: Rounding, fen: int) -> None:
    assert round_pair(n, d, mode) == fen
    assert Money.from_fen(0) + Money(f"{n}") / (d * 100) == Money(f"{n}") / (d * 100)
    assert (Money(n) / (d * 100)).to_fen(mode) == fen


def test_to_json_is_exactly_json_dumps_of_to_dict(packs: PackSet) -> None:
    import json

    cases = [
        ("art5", {**ART5, "city": "341300", "already_awarded": "49999999.99"}, "2024-06-30"),
        (
            "art1",
            {
                "city": "340100",
                "new_capacity_p": 400,
                "single_site": True,
                "completion_date": "2024-01-01",
                "city_actual_payout": "100",
            },
            "2024-06-30",
        ),
        ("art2", {"city": "340100", "in_province": True, "self_use": False, "spend": "1"}, "2026-01-01"),
        ("art9", {"ai_enterprises": 3, "total_enterprises": 5}, "2024-06-30"),
    ]
    for program, facts, on in cases:
        d = evaluate(program, facts, on, packs)
        for case_id in (None, 'x"y', 7, Decimal("1.5")):
            for lang in ("zh", "en", "both"):
                assert d.to_json(case_id, lang) == json.dumps(
                    d.to_dict(case_id, lang), ensure_ascii=False, default=str
                )


def test_a_claim_window_set_in_the_pack_refuses_late_claims() -> None:
    from zhisuan.policy import builtin_pack_dir

    text = (builtin_pack_dir() / "anhui-2023.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "  claim_window_days:\n    type: count\n    value: null",
        "  claim_window_days:\n    type: count\n    value: 90",
    )
    ps = PackSet([parse_pack(text, "window.yaml")])
    facts = {"city": "340100", "in_province": True, "self_use": False, "spend": "1000"}
    on_time = evaluate("art2", {**facts, "claimed_on": "2025-11-08"}, "2025-08-10", ps)
    late = evaluate("art2", {**facts, "claimed_on": "2025-11-09"}, "2025-08-10", ps)
    assert (on_time.eligible, on_time.amount_text) == (True, "200.00")
    assert (late.eligible, late.amount_text) == (False, "0.00")
    assert "claim window" in late.reasons[0].en
    with pytest.raises(FactError) as err:
        evaluate("art2", {**facts, "claimed_on": "soon"}, "2025-08-10", ps)
    assert err.value.field == "claimed_on"
