"""The demo's policy step: the packs in force and a few "what would I get?" answers, with their links.

An answer names the parts of an article that answer beside its amount (art. 1's non-cash construction
support, art. 6's national recommendation), each with its lead unit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from zhisuan.policy import evaluate

if TYPE_CHECKING:
    from zhisuan.bootstrap import Platform

SHOWCASE: tuple[tuple[str, str, dict[str, object], str], ...] = (
    (
        "R&D project in 宿州 (皖北), 1,000,000 yuan R&D cost",
        "art5",
        {
            "city": "341300",
            "rd_cost": "1000000",
            "selection_mode": "open_challenge",
            "topic": "industry_llm",
            "in_provincial_plan": "true",
        },
        "2025-03-31",
    ),
    (
        "Hefei supports a 600 P center, pays 30,000,000 yuan",
        "art1",
        {
            "city": "340100",
            "new_capacity_p": "600",
            "single_site": "true",
            "completion_date": "2024-10-15",
            "city_actual_payout": "30000000",
        },
        "2024-12-20",
    ),
    (
        "Top-10 benchmark case in Hefei with 3,000,000 yuan of total investment",
        "art6",
        {"city": "340100", "total_investment": "3000000", "benchmark_selected": "true"},
        "2025-03-01",
    ),
    (
        "founder of a key general-AI firm that landed in Hefei (art. 11's talent-recognition channel)",
        "art11b",
        {"key_firm_founder_or_core_staff": "true", "firm_lands_in_province": "true"},
        "2025-03-01",
    ),
    (
        "international standard led by a Bozhou (皖北) general-AI firm",
        "art14",
        {
            "city": "341600",
            "standard_level": "international",
            "leading_drafter": "true",
            "general_ai_enterprise": "true",
        },
        "2025-05-01",
    ),
    (
        "park with 61 of 100 enterprises in general AI",
        "art9",
        {"ai_enterprises": "61", "total_enterprises": "100"},
        "2025-05-01",
    ),
    (
        "compute used in January 2026 (2023 art. 2 was replaced on 2025-08-11)",
        "art2",
        {"city": "340100", "in_province": "true", "self_use": "false", "spend": "10000"},
        "2026-01-15",
    ),
    (
        "2.0: compute used in January 2026 (art. 3, the compute subsidy)",
        "anhui-2025/art3",
        {"city": "340100", "in_province": "true", "self_use": "false", "spend": "10000"},
        "2026-01-15",
    ),
    (
        "2.0: benchmark case with 2,000,000 yuan of scenario development input",
        "anhui-2025/art2",
        {
            "city": "340100",
            "scenario_dev_input": "2000000",
            "benchmark_selected": "true",
            "funded_under_art1": "false",
        },
        "2026-03-01",
    ),
)


def show_policies(platform: Platform) -> list[str]:
    """Packs in force (shipped plus the data directory's) and showcase evaluations with page links."""
    packs = platform.packs.current()
    lines = [f"policy pack {p.id}: {len(p.articles)} programs — {p.title_zh}" for p in packs]
    lines.append("pack browser: /policy · API: POST /api/v1/policy/evaluate")
    for label, program, facts, on in SHOWCASE:
        d = evaluate(program, facts, on, packs)
        if d.superseded_by is not None:
            answer = f"no longer in force: superseded by {d.superseded_by}"
        elif not d.in_force:
            answer = "no policy in force"
        elif not d.eligible:
            answer = "not eligible"
        elif d.version is not None and d.version.grants != "money":
            answer = f"eligible ({d.version.grants})"
        else:
            answer = f"at most {d.amount_text} yuan, payee {d.payee}"
            if d.provisional:
                answer += f" — an estimate on provisional {', '.join(d.provisional_parameters)}, no money yet"
        # the parts that answer beside the amount (art. 1's non-cash support, art. 6's recommendation …)
        also = [f"{x.name.en} ({x.lead_unit})" for x in d.parts if not x.main and x.eligible]
        if also:
            answer += "; also: " + "; ".join(also)
        art = program.rpartition("/")[2]
        pack = {"pack": d.pack} if "/" in program and d.pack else {}
        query = urlencode({"evaluate_case": 1, "on": on, **pack, **{f"f_{k}": v for k, v in facts.items()}})
        lines.append(f"{program} {label}: {answer} → /policy/{art}?{query}")
    return lines
