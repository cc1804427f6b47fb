"""Every YAML case beside the shipped packs answers as written."""

from __future__ import annotations

import pytest

from zhisuan.policy import PackSet, builtin_pack_dir
from zhisuan.policy.cases import PolicyCase, case_files, check_case, load_cases

CASE_ROOT = builtin_pack_dir() / "cases"
CASES: list[PolicyCase] = [
    case for d in sorted(CASE_ROOT.iterdir()) if d.is_dir() for f in case_files(d) for case in load_cases(f)
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.file}:{c.line}:{c.name}" for c in CASES])
def test_yaml_case(case: PolicyCase, packs: PackSet) -> None:
    assert check_case(case, packs) == []


def test_every_article_of_the_shipped_packs_has_cases(packs: PackSet) -> None:
    for pack in ("anhui-2023", "anhui-2025"):
        cases = [c for f in case_files(CASE_ROOT / pack) for c in load_cases(f)]
        covered = {c.program.rpartition("/")[2] for c in cases}
        # every article has cases (a few more name programs that must be refused, e.g. art11 alone)
        assert set(packs.pack(pack).articles) <= covered, pack


def test_the_2_0_boundaries_are_covered() -> None:
    names = " | ".join(c.name for c in CASES)
    for needle in [
        "2025-08-10",
        "2025-08-11",
        "superseded_by",
        "no double funding",
        "provisional",
        "exactly the cap",
    ]:
        assert needle in names, needle


def test_the_boundaries_named_by_the_issue_are_covered() -> None:
    names = " | ".join(c.name for c in CASES)
    for needle in [
        "399.99",
        "exactly 400",
        "60%",
        "61%",
        "exactly the cap",
        "2024-12-31",
        "2025-01-01",
        "2025-12-31",
        "2026-01-01",
        "皖北",
        "no uplift",
        "cumulative",
        "case-by-case",
        "third",
        "fraction of a fen",
    ]:
        assert needle in names, needle
