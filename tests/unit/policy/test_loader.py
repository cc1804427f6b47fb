"""Pack loading: validation errors name file, line and key; dated parameters; overlapping rules."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest

from zhisuan.policy import PackError, builtin_pack_dir, parse_pack
from zhisuan.policy.schema import Parameter, ParamVersion, article_key

SHIPPED = (builtin_pack_dir() / "anhui-2023.yaml").read_text(encoding="utf-8")

MINIMAL = """\
id: mini
title_zh: 迷你
title_en: mini
region: "340000"
source: tests
defaults:
  rounding: {type: rounding, value: down}
  uplift_enabled: {type: bool, value: false}
  uplift_factor: {type: rate, value: "1.2"}
  uplift_cities: {type: cities, value: ["341300"]}
articles:
  art5:
    name_zh: 研发
    name_en: R&D
    effective: {from: 2024-01-01, to: 2024-12-31}
    lead_unit: 科技厅
    payee: applicant
    facts:
      rd_cost: {type: money}
      level: {type: enum, values: [a, b]}
    parameters:
      rate:
        type: rate
        history:
          - {from: 2024-01-01, value: "20%"}
          - {from: 2024-07-01, value: "25%"}
    award:
      - id: share
        base: {fact: rd_cost}
        rate: {parameter: rate}
"""


def test_the_shipped_pack_loads_with_fifteen_articles_art11_as_two_programs() -> None:
    pack = parse_pack(SHIPPED, "anhui-2023.yaml")
    expected = [f"art{i}" for i in range(1, 11)] + ["art11a", "art11b"] + [f"art{i}" for i in range(12, 16)]
    assert sorted(pack.articles, key=article_key) == expected
    assert pack.articles["art1"].parameters["match_rate"].at(dt.date(2024, 1, 1)) == Fraction(1, 3)
    assert (pack.official_title, pack.issuer) == (
        "打造通用人工智能产业创新和应用高地若干政策",
        "安徽省人民政府",
    )


WITH_PARTS = MINIMAL.replace(
    "    payee: applicant\n",
    """    payee: applicant
    parts:
      - id: support
        name_zh: 支持
        name_en: support
        grants: eligibility
        lead_unit: 发改委
        cooperating_units: [财政厅]
        gives: [优先 / first]
      - id: grant
        main: true
        name_zh: 资助
        name_en: grant
""",
)


def test_parts_load_in_text_order_and_the_main_part_takes_the_articles_units() -> None:
    art = parse_pack(WITH_PARTS, "parts.yaml").articles["art5"]
    assert [(p.id, p.main, p.lead_unit, p.grants) for p in art.parts] == [
        ("support", False, "发改委", "eligibility"),
        ("grant", True, "科技厅", "money"),
    ]
    assert art.parts[0].gives[0].zh == "优先" and art.parts[0].gives[0].en == "first"
    assert art.main_part() is art.parts[1] and art.side_parts() == (art.parts[0],)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (
            ("        main: true\n", "        grants: priority\n"),
            "articles.art5.parts",
            "exactly one part is 'main: true'",
        ),
        (
            ("        main: true\n", "        main: true\n        lead_unit: x\n"),
            "articles.art5.parts[1].lead_unit",
            "unknown key",
        ),
        (
            ("        grants: eligibility\n", "        grants: money\n"),
            "articles.art5.parts[0].grants",
            "a part grants one of",
        ),
        (("[优先 / first]", "[优先]"), "articles.art5.parts[0].gives[0]", "中文 / English"),
        (("      - id: support\n", "      - id: share\n"), "articles.art5.parts[0].id", "duplicate"),
    ],
)
def test_bad_parts_are_refused_naming_the_key(change: tuple[str, str], field: str, words: str) -> None:
    err = _error(WITH_PARTS.replace(*change))
    assert (err.field, words in err.message) == (field, True), err


def test_a_task_answers_no_case_so_it_has_no_rules() -> None:
    text = WITH_PARTS.replace(
        "        grants: eligibility\n",
        "        grants: task\n        eligibility:\n"
        "          - {id: r, check: {fact: level, op: in, value: [a]}, fail_zh: x, fail_en: x}\n",
    )
    assert _error(text).field == "articles.art5.parts[0].eligibility"


def _error(text: str) -> PackError:
    with pytest.raises(PackError) as err:
        parse_pack(text, "broken.yaml")
    return err.value


def test_an_unknown_key_names_file_line_and_key() -> None:
    err = _error(MINIMAL.replace("    lead_unit: 科技厅\n", "    lead_unit: 科技厅\n    leed: x\n"))
    assert err.file == "broken.yaml"
    assert err.row == 17
    assert err.field == "articles.art5.leed"
    assert str(err).startswith("broken.yaml:17: articles.art5.leed: unknown key")


def test_a_bad_rate_names_its_history_entry() -> None:
    err = _error(MINIMAL.replace('value: "25%"', 'value: "a quarter"'))
    assert err.field == "articles.art5.parameters.rate.history[1].value"
    assert err.row == 26


def test_history_out_of_order_is_refused() -> None:
    err = _error(MINIMAL.replace("from: 2024-07-01", "from: 2023-07-01"))
    assert "increasing date order" in err.message


def test_a_parameters_lower_bound_holds_for_every_dated_value() -> None:
    bounded = MINIMAL.replace(
        "        type: rate\n        history:", '        type: rate\n        min: "21%"\n        history:'
    )
    err = _error(bounded)
    assert err.field == "articles.art5.parameters.rate.history[0].value"
    assert err.message == "must be at least 21%, got 20%"
    assert parse_pack(bounded.replace('value: "20%"', 'value: "21%"'), "ok.yaml").id == "mini"
    err = _error(MINIMAL.replace("    award:", "      name: {type: text, value: x, min: 1}\n    award:"))
    assert err.field == "articles.art5.parameters.name.min"


def test_yaml_syntax_errors_name_the_line() -> None:
    with pytest.raises(Exception, match="YAML syntax error") as err:
        parse_pack(MINIMAL.replace("payee: applicant", "payee: [applicant"), "broken.yaml")
    assert getattr(err.value, "row", None) is not None


def test_duplicate_keys_are_refused() -> None:
    err = _error(MINIMAL.replace("    payee: applicant\n", "    payee: applicant\n    payee: city\n"))
    assert "duplicate key" in err.message


def test_a_rule_on_an_undeclared_fact_is_refused() -> None:
    text = MINIMAL.replace(
        "    award:\n",
        "    eligibility:\n      - id: x\n        check: {fact: nope, op: is_true}\n"
        "        fail_zh: x\n        fail_en: x\n    award:\n",
    )
    err = _error(text)
    assert err.field == "articles.art5.eligibility[0].check.fact"


def test_floats_in_packs_are_read_exactly() -> None:
    pack = parse_pack(MINIMAL.replace('value: "1.2"', "value: 1.2"), "ok.yaml")
    assert pack.articles["art5"].parameters["uplift_factor"].at(dt.date(2024, 1, 1)) == Fraction(6, 5)


def test_award_rules_that_overlap_without_priority_are_refused_at_load() -> None:
    text = MINIMAL.replace(
        "      - id: share\n",
        "      - id: other\n        when: [{fact: level, op: in, value: [a, b]}]\n"
        "        base: {fact: rd_cost}\n"
        "      - id: share\n        when: [{fact: level, op: in, value: [b]}]\n",
    )
    err = _error(text)
    assert "'other' and 'share' can both claim" in err.message


def test_overlapping_rules_with_distinct_priorities_load() -> None:
    text = MINIMAL.replace(
        "      - id: share\n",
        "      - id: other\n        priority: 1\n        when: [{fact: level, op: in, value: [a, b]}]\n"
        "        base: {fact: rd_cost}\n      - id: share\n        priority: 2\n",
    )
    assert len(parse_pack(text, "ok.yaml").articles["art5"].award) == 2


def test_a_parameter_value_holds_from_its_date_until_the_next() -> None:
    p = Parameter(
        "rate", "rate", (ParamVersion(dt.date(2024, 1, 1), 1), ParamVersion(dt.date(2024, 7, 1), 2))
    )
    assert p.at(dt.date(2024, 6, 30)) == 1
    assert p.at(dt.date(2024, 7, 1)) == 2
    assert p.at(dt.date(2030, 1, 1)) == 2


def test_dated_parameters_change_answers_on_their_date() -> None:
    from zhisuan.policy import PackSet, evaluate

    ps = PackSet([parse_pack(MINIMAL, "mini.yaml")])
    facts = {"rd_cost": "100", "level": "a"}
    assert evaluate("art5", facts, "2024-06-30", ps).amount_text == "20.00"
    assert evaluate("art5", facts, "2024-07-01", ps).amount_text == "25.00"
    assert not evaluate("art5", facts, "2025-01-01", ps).in_force


def test_unknown_city_codes_in_uplift_lists_are_refused() -> None:
    err = _error(MINIMAL.replace('value: ["341300"]', 'value: ["349999"]'))
    assert err.field == "defaults.uplift_cities.value"
