"""Explanation steps on a Chinese page read in Chinese: names for ids, words for names."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from zhisuan.web import display

#: an English or internal word left on a Chinese page
ASCII_WORD = re.compile(r"[A-Za-z_]{3,}")


def test_the_self_use_step_names_both_organizations_in_the_page_language() -> None:
    step = {"article": "art2", "rule": "self_use", "parameter": "p", "value": "user 7, operator 3"}
    orgs = {7: "星河科技", 3: "巢湖算力"}
    zh = display.step_text(step, "zh", orgs)
    assert zh["value"] == "用户 星河科技，运营方 巢湖算力" and zh["article"] == "第 2 条"
    assert display.step_text(step, "en", orgs)["value"] == "user 星河科技, operator 巢湖算力"
    assert display.step_org_ids([step, {"value": "true"}]) == {3, 7}
    assert "#9" in display.step_text({**step, "value": "user 9, operator 3"}, "zh", orgs)["value"]


def test_lists_accounts_and_pack_words_read_in_chinese() -> None:
    words = {
        "annual_cap_per_org": "每家单位年度上限",
        "in_province_required": "仅在皖注册或纳税的使用方",
        "self_use_excluded": "自建自用不予补贴",
    }
    step = {
        "article": "art11a",
        "rule": "provisional",
        "parameter": "annual_cap_per_org, in_province_required",
        "value": "— | self_use_excluded",
        "result": "pass: claimed_on = 2026-01-02, topic = general_llm",
        "result_zh": "通过：claimed_on = 2026-01-02",
    }
    zh = display.step_text(step, "zh", words=words)
    assert zh["article"] == "第 11 条（a）"
    assert zh["parameter"].startswith("每家单位年度上限、") and not ASCII_WORD.search(zh["parameter"])
    assert zh["value"].startswith("— | ") and not ASCII_WORD.search(zh["value"])
    assert zh["result"] == "通过：申报日期 = 2026-01-02"
    budget = display.step_text({"parameter": "program_budget:art2:2026", "value": "x"}, "zh")
    assert budget["parameter"] == "第 2 条政策预算（2026 年）"
    again = display.step_text({"parameter": "provisional voucher line 250"}, "zh")
    assert again["parameter"] == "暂定券明细 250"
    assert display.step_text(step, "en")["parameter"] == "annual_cap_per_org, in_province_required"


@given(st.integers(min_value=1, max_value=10**9), st.integers(min_value=1, max_value=10**9))
def test_any_pair_of_ids_reads_as_names(user: int, operator: int) -> None:
    orgs = {user: "甲", operator: "乙"}
    text = display.step_text({"value": f"user {user}, operator {operator}"}, "zh", orgs)["value"]
    assert not re.search(r"\d", text) and not ASCII_WORD.search(text)
