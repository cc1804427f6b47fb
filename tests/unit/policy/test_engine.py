"""The engine: the contract's shape, fact typing, rule conflicts, explanations."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.factories.policy import CONTRACT_KEYS
from zhisuan.core.errors import PolicyError
from zhisuan.core.money import Money, Rounding
from zhisuan.policy import FactError, PackSet, RuleConflictError, evaluate, parse_pack
from zhisuan.policy.decision import round_pair

KEYS = CONTRACT_KEYS
ART5 = {
    "city": "340100",
    "rd_cost": "1000000",
    "selection_mode": "directed",
    "topic": "general_llm",
    "in_provincial_plan": True,
}


def test_the_answer_has_exactly_the_contract_keys(packs: PackSet) -> None:
    d = evaluate("art5", ART5, "2024-06-30", packs).to_dict("x")
    assert list(d) == KEYS
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
    assert d.reasons[0].zh == "项目未列入省级科技攻关计划"
    assert d.to_dict(lang="en")["reasons"] == ["the project is not in the provincial S&T plan"]
    assert d.to_dict()["reasons"] == [
        "项目未列入省级科技攻关计划 / the project is not in the provincial S&T plan"
    ]


def test_uplift_is_its_own_step(packs: PackSet) -> None:
    d = evaluate("art5", {**ART5, "city": "341300"}, "2024-06-30", packs)
    step = next(s for s in d.steps if s.rule == "northern_anhui_uplift")
    assert (step.parameter, step.value) == ("uplift_factor", "1.2")
    assert step.result.startswith("applied")


def test_eligibility_articles_tell_who_handles_and_what_evidence(packs: PackSet) -> None:
    d = evaluate("art3", {"in_province": True, "general_ai_enterprise": True}, "2024-06-30", packs)
    assert d.eligible and d.amount_fen == 0
    assert d.lead_unit == "省人工智能产业推进组工作专班"
    assert "省数据资源局" in d.cooperating_units
    assert d.evidence


WORKING_GROUP = "省人工智能产业推进组工作专班"
#: every 2023 unit line as the text gives it: program → part → (lead or responsible units, cooperating)
UNITS: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "art1": {
        "construction_support": ("省发展改革委", ("省财政厅", "省自然资源厅", "省国资委")),
        "capacity_match": (WORKING_GROUP, ("省发展改革委", "省财政厅", "省数据资源局", "相关市人民政府")),
    },
    "art2": {
        "scheduling_platform": ("省数据资源局", ()),
        "compute_voucher": (WORKING_GROUP, ("省发展改革委", "省财政厅", "省数据资源局", "相关市人民政府")),
    },
    "art3": {
        "open_data_catalog": ("省数据资源局", ()),
        "data_sharing": (WORKING_GROUP, ("省数据资源局", "省档案馆", "省地方志研究院", "各市人民政府")),
    },
    "art4": {"": (WORKING_GROUP, ("省财政厅", "省数据资源局", "各市人民政府"))},
    "art5": {"": ("省科技厅", ("省发展改革委", "省经济和信息化厅", "省财政厅"))},
    "art6": {"": (WORKING_GROUP, ("省有关部门", "各市人民政府"))},
    "art7": {"": ("省经济和信息化厅、省科技厅、省财政厅", ())},
    "art8": {"": (WORKING_GROUP, ("省财政厅", "各市人民政府"))},
    "art9": {"": (WORKING_GROUP, ("各市人民政府",))},
    "art10": {"": (WORKING_GROUP, ("省财政厅", "各市人民政府"))},
    "art11a": {"": ("省人力资源社会保障厅", ("省科技厅", "相关市人民政府"))},
    "art11b": {"": ("相关市人民政府", ("省人力资源社会保障厅",))},
    "art12": {"": ("省科技厅", ("省财政厅", "各市人民政府"))},
    "art13": {
        "social_capital": ("省地方金融监管局、省财政厅、省科技厅", ()),
        "theme_fund": ("省科技厅", ()),
    },
    "art14": {"": ("省经济和信息化厅", ("省财政厅", "各市人民政府"))},
    "art15": {"": (WORKING_GROUP, ("省财政厅", "省人力资源社会保障厅"))},
}


@pytest.mark.parametrize("program", sorted(UNITS))
def test_units_are_named_exactly_as_the_2023_text_names_them(packs: PackSet, program: str) -> None:
    version = packs.pack("anhui-2023").articles[program]
    for part_id, (lead, cooperating) in UNITS[program].items():
        part = next(p for p in version.parts if p.id == part_id) if part_id else version
        assert (part.lead_unit, part.cooperating_units) == (lead, cooperating), part_id
    every = {
        u for v in packs.pack("anhui-2023").articles.values() for u in (v.lead_unit, *v.cooperating_units)
    }
    assert not any("通用人工智能产业推进专班" in u or u == "各市政府" for u in every)


def test_the_2_0_compute_measure_names_only_the_unit_the_found_text_gives(packs: PackSet) -> None:
    art3 = packs.pack("anhui-2025").articles["art3"]
    platform = next(p for p in art3.parts if p.id == "scheduling_platform")
    assert (platform.grants, platform.lead_unit) == ("task", "省数据资源局")
    assert art3.lead_unit == "牵头单位待确认"  # the subsidy's unit line is cut off in every copy found
    facts = {"city": "340100", "in_province": True, "self_use": False, "spend": "10"}
    assert (
        "parts" not in evaluate("anhui-2025/art3", facts, "2025-10-01", packs).to_dict()
    )  # a task answers no case


ART1 = {
    "city": "340100",
    "new_capacity_p": "400",
    "single_site": True,
    "completion_date": "2024-06-30",
    "city_actual_payout": "300000",
}


def test_art1_keeps_the_contract_amount_and_adds_its_two_parts(packs: PackSet) -> None:
    d = evaluate("art1", ART1, "2024-07-01", packs)
    assert (d.eligible, d.amount_text, d.payee) == (True, "100000.00", "city")
    out = d.to_dict(lang="en")
    assert list(out)[:10] == KEYS[:10]  # the contract's keys first, in order; parts before the steps
    assert [(p["part"], p["main"], p["money"], p["eligible"], p["amount"]) for p in out["parts"]] == [  # type: ignore[union-attr]
        ("construction_support", False, False, True, None),
        ("capacity_match", True, True, True, "100000.00"),
    ]
    below = evaluate("art1", {**ART1, "new_capacity_p": "300"}, "2024-07-01", packs)
    assert (below.eligible, below.amount_text) == (False, "0.00")
    assert [p.eligible for p in below.parts] == [True, False]


def test_an_article_without_side_parts_answers_exactly_the_contract_keys(packs: PackSet) -> None:
    facts = {"city": "340100", "in_province": True, "self_use": False, "spend": "10"}
    assert list(evaluate("art2", facts, "2025-06-01", packs).to_dict()) == KEYS


def test_steps_and_reasons_come_in_chinese_for_zh(packs: PackSet) -> None:
    d = evaluate("art5", {**ART5, "city": "341300", "already_awarded": "100"}, "2024-06-30", packs)
    zh = d.to_dict(lang="zh")
    results = [s["result"] for s in zh["steps"]]  # type: ignore[union-attr]
    assert results[0] == "有效"
    assert "通过：in_provincial_plan = 是" in results
    assert any(r.startswith("适用：city 341300 属皖北") for r in results)
    assert any(r.startswith("未超上限，已获 100.00，剩余 59999900.00") for r in results)
    english = ("pass", "fail", "applied", "within", "capped", "true", "skipped", "not given")
    assert not any(word in r for r in results for word in english), results
    assert zh["reasons"] == ["符合条件，最高可获 240000.00 元", "皖北项目上浮 1.2 倍（金额与上限）"]
    assert d.to_dict(lang="en")["steps"][0]["result"] == "true"  # type: ignore[index]
    assert d.to_dict()["steps"] == d.to_dict(lang="en")["steps"]


def test_a_not_in_force_answer_explains_itself_in_chinese(packs: PackSet) -> None:
    d = evaluate("art5", ART5, "2026-01-01", packs).to_dict(lang="zh")
    assert d["steps"][0]["result"] == "无有效政策"  # type: ignore[index]
    replaced = evaluate(
        "art6", {"city": "340100", "total_investment": "1", "benchmark_selected": True}, "2025-09-01", packs
    ).to_dict(lang="zh")
    assert replaced["steps"][0]["result"] == "无效：已被 anhui-2025/art2 替代"  # type: ignore[index]


def test_art11_is_two_programs_and_art11_alone_says_so(packs: PackSet) -> None:
    title = evaluate("art11a", {"general_ai_professional": True}, "2024-04-01", packs)
    talent = evaluate(
        "art11b",
        {"key_firm_founder_or_core_staff": True, "firm_lands_in_province": True},
        "2024-04-01",
        packs,
    )
    assert (title.lead_unit, talent.lead_unit) == ("省人力资源社会保障厅", "相关市人民政府")
    with pytest.raises(PolicyError) as err:
        evaluate("art11", {"general_ai_professional": True}, "2024-04-01", packs)
    assert err.value.field == "program"
    assert "art11 is 2 programs: art11a, art11b" in err.value.message


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
