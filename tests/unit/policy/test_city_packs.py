"""City programs (POLICY position 19): a pack scoped to a city, its payer, and its non-stacking list."""

from __future__ import annotations

import datetime as dt

import pytest

from zhisuan.core.errors import PolicyError
from zhisuan.policy import COMPUTE_VOUCHER, evaluate, load_pack_set
from zhisuan.policy.errors import PackError
from zhisuan.policy.loader import builtin_pack_dir, parse_pack

PACKS = load_pack_set()
DAY = dt.date(2026, 1, 15)
WUHU, HEFEI = "340200", "340100"
FACTS = {"city": WUHU, "in_province": True, "self_use": False, "spend": "1000"}


def _wuhu_text() -> str:
    return (builtin_pack_dir() / "wuhu-compute.yaml").read_text(encoding="utf-8")


def test_the_wuhu_pack_is_a_city_program_paid_by_the_city() -> None:
    pack = PACKS.pack("wuhu-compute")
    assert (pack.region, pack.payer, pack.not_with, pack.city_scoped()) == (WUHU, "city", (), True)
    assert pack.applies_to(WUHU) and not pack.applies_to(HEFEI)
    assert PACKS.pack("anhui-2025").applies_to(WUHU) and PACKS.pack("anhui-2025").payer == "province"


def test_programs_in_force_per_city_province_first() -> None:
    wuhu = [v.qualified for v in PACKS.all_for_measure(COMPUTE_VOUCHER, DAY, WUHU)]
    assert wuhu == ["anhui-2025/art3", "wuhu-compute/art1"]
    assert [v.qualified for v in PACKS.all_for_measure(COMPUTE_VOUCHER, DAY, HEFEI)] == ["anhui-2025/art3"]
    # without a city, only the province-wide program: for_measure stays unambiguous
    assert [v.qualified for v in PACKS.all_for_measure(COMPUTE_VOUCHER, DAY)] == ["anhui-2025/art3"]
    found = PACKS.for_measure(COMPUTE_VOUCHER, DAY)
    assert found is not None and found.qualified == "anhui-2025/art3"


def test_the_wuhu_subsidy_is_provisional_25_percent() -> None:
    d = evaluate("wuhu-compute/art1", FACTS, DAY, PACKS)
    assert (d.amount_text, d.eligible, d.provisional) == ("250.00", True, True)
    assert set(d.provisional_parameters) == {"rate", "annual_cap_per_org"}
    capped = evaluate("wuhu-compute/art1", {**FACTS, "subsidy_this_year": "19999900"}, DAY, PACKS)
    assert capped.amount_text == "100.00"
    assert not evaluate("wuhu-compute/art1", {**FACTS, "city": HEFEI}, DAY, PACKS).eligible


def test_a_city_pack_never_changes_what_a_bare_article_id_means() -> None:
    found = PACKS.resolve("art1", dt.date(2024, 6, 1))
    assert found is not None and found.pack_id == "anhui-2023"
    assert not PACKS.base_numbering("wuhu-compute")


def test_not_with_and_payer_are_read_and_validated_with_file_line_and_key() -> None:
    text = _wuhu_text().replace("payer: city\n", "payer: city\nnot_with: [anhui-2025/art3]\n")
    assert parse_pack(text, "wuhu.yaml").not_with == ("anhui-2025/art3",)
    with pytest.raises(PackError) as bad:
        parse_pack(text.replace("not_with: [anhui-2025/art3]", "not_with: [art3]"), "wuhu.yaml")
    assert (bad.value.file, bad.value.field) == ("wuhu.yaml", "not_with[0]") and bad.value.row == 15
    with pytest.raises(PackError) as payer:
        parse_pack(_wuhu_text().replace("payer: city", "payer: town"), "wuhu.yaml")
    assert payer.value.field == "payer" and payer.value.row == 14
    with pytest.raises(PolicyError, match="city payer needs a city region"):
        parse_pack(_wuhu_text().replace('region: "340200"', 'region: "340000"'), "wuhu.yaml")
