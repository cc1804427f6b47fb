"""A successor pack replaces art. 6 from 2025-08-11: answers change on and after that date only."""

from __future__ import annotations

import datetime as dt

import pytest

from zhisuan.core.errors import PolicyError
from zhisuan.policy import PackSet, evaluate, load_pack, load_pack_set

OLD_FACTS = {"city": "340100", "total_investment": "1000000", "benchmark_selected": True}
NEW_FACTS = {
    "city": "340100",
    "development_input": "1000000",
    "benchmark_selected": True,
    "funded_by_rd_challenge": False,
}


def test_events_before_the_successor_date_keep_the_old_article(packs_with_successor: PackSet) -> None:
    d = evaluate("art6", OLD_FACTS, "2025-08-10", packs_with_successor)
    assert (d.pack, d.amount_text, d.in_force) == ("anhui-2023", "200000.00", True)


def test_events_on_and_after_the_successor_date_use_the_new_article(packs_with_successor: PackSet) -> None:
    d = evaluate("art6", NEW_FACTS, "2025-08-11", packs_with_successor)
    assert (d.pack, d.amount_text) == ("anhui-2025-test", "300000.00")
    assert evaluate("art6", NEW_FACTS, "2025-12-31", packs_with_successor).pack == "anhui-2025-test"


def test_the_old_facts_are_refused_by_the_new_article(packs_with_successor: PackSet) -> None:
    with pytest.raises(PolicyError) as err:
        evaluate("art6", OLD_FACTS, "2025-08-11", packs_with_successor)
    assert err.value.field == "total_investment"


def test_the_successor_adds_its_own_exclusion(packs_with_successor: PackSet) -> None:
    d = evaluate("art6", {**NEW_FACTS, "funded_by_rd_challenge": True}, "2025-09-01", packs_with_successor)
    assert (d.eligible, d.amount_text) == (False, "0.00")
    assert any("double funding" in r.en for r in d.reasons)


def test_other_articles_are_untouched(packs: PackSet, packs_with_successor: PackSet) -> None:
    facts = {
        "city": "340100",
        "rd_cost": "1000000",
        "selection_mode": "directed",
        "topic": "general_llm",
        "in_provincial_plan": True,
    }
    for day in ("2025-08-10", "2025-08-11", "2025-12-31"):
        assert evaluate("art5", facts, day, packs_with_successor) == evaluate("art5", facts, day, packs)


def test_the_successor_keeps_art6_in_force_after_the_old_pack_ends(packs_with_successor: PackSet) -> None:
    d = evaluate("art6", NEW_FACTS, "2026-03-01", packs_with_successor)
    # its dated cap rises on 2026-01-01; the award is still 30% of the input here
    assert (d.in_force, d.amount_text) == (True, "300000.00")
    big = evaluate("art6", {**NEW_FACTS, "development_input": "10000000"}, "2026-03-01", packs_with_successor)
    assert big.amount_text == "2000000.00"
    before = evaluate(
        "art6", {**NEW_FACTS, "development_input": "10000000"}, "2025-12-31", packs_with_successor
    )
    assert before.amount_text == "1000000.00"


def test_without_the_successor_the_old_article_still_judges_later_events(packs: PackSet) -> None:
    assert evaluate("art6", OLD_FACTS, "2025-08-11", packs).pack == "anhui-2023"


def test_the_cut_is_reported(packs_with_successor: PackSet) -> None:
    old = packs_with_successor.pack("anhui-2023").articles["art6"]
    assert packs_with_successor.in_force_until(old) == dt.date(2025, 8, 10)
    d = evaluate("art6", OLD_FACTS, "2025-08-10", packs_with_successor)
    assert d.steps[0].value == "2023-11-08..2025-08-10"


def test_two_packs_in_force_without_supersedes_is_an_error(successor_pack_path: object) -> None:
    from pathlib import Path

    text = Path(str(successor_pack_path)).read_text(encoding="utf-8")
    # a pack putting art5 (not replaced by 2.0) in force beside the 2023 one, with no supersedes entry
    rival = (
        text.replace("supersedes:\n  anhui-2023:\n    art6: 2025-08-11\n", "")
        .replace("id: anhui-2025-test", "id: rival")
        .replace("\n  art6:\n", "\n  art5:\n")
    )
    art5 = {
        "city": "340100",
        "rd_cost": "1000000",
        "selection_mode": "directed",
        "topic": "general_llm",
        "in_provincial_plan": True,
    }
    from zhisuan.policy import parse_pack

    ps = PackSet([*load_pack_set(), parse_pack(rival, "rival.yaml")])
    with pytest.raises(PolicyError, match="none supersedes"):
        evaluate("art5", art5, "2025-09-01", ps)
    # choosing a pack explicitly is allowed
    assert evaluate("art5", art5, "2025-09-01", ps, pack="anhui-2023").amount_text == "200000.00"


def test_an_admin_pack_directory_is_loaded(tmp_path: object, successor_pack_path: object) -> None:
    import shutil
    from pathlib import Path

    d = Path(str(tmp_path))
    shutil.copy(str(successor_pack_path), d / "successor.yaml")
    ps = load_pack_set(d)
    assert {p.id for p in ps} == {"anhui-2023", "anhui-2025", "anhui-2025-test", "wuhu-compute"}
    assert load_pack(d / "successor.yaml").supersedes == {"anhui-2023": {"art6": dt.date(2025, 8, 11)}}
