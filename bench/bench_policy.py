"""Policy engine benchmark: explained batch evaluation and the exact vectorised amounts mode.

    .venv/bin/python bench/bench_policy.py [--cases 1000000] [--vector-rows 10000000] [--workers 2]

Measures, in one run (same machine, same load, so ratios are meaningful):

* explained mode: ``evaluate()`` with full steps and reasons over N mixed cases of the sixteen programs
  of all fifteen articles (dates 2023-10 … 2026-03, so some are not in force; boundaries and 皖北
  cities included), single process; the same with JSON-lines output (``Decision.to_json``); the same
  spread over worker processes; and a baseline that compiles the article version for every case (no caching).
* vectorised mode: ``art2_amounts`` (monthly voucher settlement) and the generic ``amounts`` for art5,
  integer fen in numpy; a float32 and a float64 baseline of the same 20 % computation, with the share
  of rows where each misses the exact fen; and a check that the vectorised mode equals the explained
  mode on a random sample.

Prints a table and writes ``bench/results/bench_policy.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import random
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from zhisuan.policy import amounts, art2_amounts, evaluate, load_pack_set
from zhisuan.policy.compile import Compiled as _Compiled

CITIES = ["340100", "340200", "340300", "340400", "340500", "340600", "341200", "341300", "341600", "341800"]
START = dt.date(2023, 10, 1)
SPAN = (dt.date(2026, 3, 31) - START).days
WEIGHTS = {
    "art2": 40,
    "art5": 10,
    "art1": 8,
    "art6": 8,
    "art8": 8,
    "art14": 6,
    "art10": 5,
    "art4": 5,
    "art9": 4,
    "art3": 1,
    "art7": 1,
    "art11a": 1,
    "art11b": 1,
    "art12": 1,
    "art13": 1,
    "art15": 1,
}


def _money(rng: random.Random, top: int) -> str:
    fen = rng.randrange(top)
    return f"{fen // 100}.{fen % 100:02d}"


def make_case(rng: random.Random) -> tuple[str, dict[str, object], str]:
    """One random case: program, facts (as a JSON line would give them), event date."""
    program = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
    on = (START + dt.timedelta(days=rng.randrange(SPAN))).isoformat()
    city = rng.choice(CITIES)
    b = rng.random() < 0.85
    f: dict[str, object]
    if program == "art1":
        f = {
            "city": city,
            "new_capacity_p": rng.choice(["399.99", "400", "1200.5", str(rng.randrange(2000))]),
            "single_site": b,
            "completion_date": rng.choice(["2024-12-31", "2025-01-01", "2024-06-30"]),
            "city_actual_payout": _money(rng, 10**11),
        }
        if rng.random() < 0.05:
            f["case_by_case_amount"] = _money(rng, 10**12)
    elif program == "art2":
        f = {"city": city, "in_province": b, "self_use": rng.random() < 0.1, "spend": _money(rng, 10**9)}
        if rng.random() < 0.5:
            f["subsidy_this_year"] = _money(rng, 10**8)
    elif program == "art3":
        f = {"in_province": b, "general_ai_enterprise": True}
    elif program == "art4":
        f = {
            "city": city,
            "in_province": b,
            "annual_transaction_amount": _money(rng, 10**10),
            "city_ratio": rng.choice(["5%", "0.1", "1/3", "12.5%"]),
        }
    elif program == "art5":
        f = {
            "city": city,
            "rd_cost": _money(rng, 10**12),
            "selection_mode": "open_challenge",
            "topic": rng.choice(["general_llm", "industry_llm", "secure_controllable", "out_of_scope"]),
            "in_provincial_plan": b,
            "already_awarded": _money(rng, 6 * 10**9),
        }
    elif program == "art6":
        f = {"city": city, "total_investment": _money(rng, 10**10), "benchmark_selected": b}
    elif program == "art7":
        f = {"in_province": b, "innovative_general_ai_product": True}
    elif program == "art8":
        f = {"city": city, "key_technology_project": b, "city_actual_payout": _money(rng, 5 * 10**9)}
    elif program == "art9":
        total = rng.randrange(1, 200)
        f = {"ai_enterprises": rng.randrange(total + 1), "total_enterprises": total}
    elif program == "art10":
        f = {
            "city": city,
            "award_winner": b,
            "lands_in_province": True,
            "requested_support": _money(rng, 5 * 10**9),
        }
    elif program == "art11a":
        f = {"general_ai_professional": b}
    elif program == "art11b":
        f = {"key_firm_founder_or_core_staff": b, "firm_lands_in_province": True}
    elif program == "art12":
        f = {"high_level_talent_team": b, "founds_firm_in_province": True}
    elif program == "art13":
        f = {"general_ai_firm_or_project": b}
    elif program == "art14":
        f = {
            "city": city,
            "standard_level": rng.choice(["international", "national", "industry", "group"]),
            "leading_drafter": b,
            "general_ai_enterprise": True,
        }
    else:
        f = {"event_kind": rng.choice(["training", "promotion", "consulting", "other"])}
    return program, f, on


def chunks(total: int, seed: int, size: int = 50_000) -> Iterator[list[tuple[str, dict[str, object], str]]]:
    rng = random.Random(seed)
    done = 0
    while done < total:
        n = min(size, total - done)
        yield [make_case(rng) for _ in range(n)]
        done += n


def run_explained(total: int, seed: int, as_json: bool = False) -> dict[str, float]:
    """Evaluate ``total`` cases in this process; time only the evaluation (not the generation)."""
    packs = load_pack_set()
    wall = cpu = 0.0
    eligible = amount_fen = 0
    for chunk in chunks(total, seed):
        w0, c0 = time.perf_counter(), time.process_time()
        if as_json:
            for program, facts, on in chunk:
                evaluate(program, facts, on, packs).to_json()
        else:
            for program, facts, on in chunk:
                d = evaluate(program, facts, on, packs)
                eligible += d.eligible
                amount_fen += d.amount_fen
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
    return {"cases": total, "wall_s": wall, "cpu_s": cpu, "eligible": eligible, "amount_fen": amount_fen}


def _worker(args: tuple[int, int]) -> dict[str, float]:
    total, seed = args
    return run_explained(total, seed)


def run_parallel(total: int, workers: int, seed: int) -> dict[str, float]:
    per = total // workers
    ctx = mp.get_context("fork")
    with ctx.Pool(workers) as pool:
        results = pool.map(_worker, [(per, seed + i) for i in range(workers)])
    wall = max(r["wall_s"] for r in results)
    return {"cases": per * workers, "wall_s": wall, "cpu_s": sum(r["cpu_s"] for r in results)}


def run_uncached(total: int, seed: int) -> dict[str, float]:
    """Baseline: compile the article version again for every case (no closure or parameter caching)."""
    packs = load_pack_set()
    cases = next(chunks(total, seed, total))
    regions = {p.id: p.region for p in packs}
    w0, c0 = time.perf_counter(), time.process_time()
    for program, facts, on in cases:
        day = dt.date.fromisoformat(on)
        version = packs.resolve(program, day)
        if version is not None:
            _Compiled(packs, version, day, regions[version.pack_id]).run(facts, day)
    return {"cases": total, "wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0}


def run_ceiling(total: int, seed: int) -> dict[str, float]:
    """What plain Python can do here: the engine vs a hand-written art5 function (no validation, no pack).

    Both produce the same steps and reasons for eligible art5 cases; the hand-written one knows the
    parameters as constants and skips fact checking, so it is an upper bound for any engine design.
    """
    from zhisuan.policy.decision import Reason, Step, fen_text

    packs = load_pack_set()
    rng = random.Random(seed)
    cases = [
        {
            "city": rng.choice(CITIES),
            "rd_cost": _money(rng, 10**10),
            "selection_mode": "directed",
            "topic": "general_llm",
            "in_provincial_plan": True,
            "already_awarded": _money(rng, 10**8),
        }
        for _ in range(total)
    ]
    day = dt.date(2024, 6, 30)
    c0 = time.process_time()
    for facts in cases:
        evaluate("art5", facts, day, packs)
    engine_cpu = time.process_time() - c0
    north = frozenset({"340300", "340400", "340600", "341200", "341300", "341600"})
    s0 = Step("art5", "in_force", "effective", "2023-11-08..2025-12-31", "true")
    s1 = Step("art5", "in_provincial_plan", "—", "true", "pass: in_provincial_plan = true")
    modes = "{open_challenge, horse_race, directed}"
    s2 = Step(
        "art5", "selection_mode", "selection_modes", modes[1:-1], f"pass: selection_mode = directed ∈ {modes}"
    )
    topics = "{general_llm, industry_llm, secure_controllable, other_general_ai_path}"
    s3 = Step(
        "art5", "research_topic", "qualifying_topics", topics[1:-1], f"pass: topic = general_llm ∈ {topics}"
    )

    def hand(f: dict[str, Any]) -> tuple[object, ...]:
        w, _, fr = f["rd_cost"].partition(".")
        n = int(w) * 100 + int(fr)
        w, _, fr = f["already_awarded"].partition(".")
        a = int(w) * 100 + int(fr)
        steps = [
            s0,
            s1,
            s2,
            s3,
            Step("art5", "share_of_rd_cost", "rate", "20%", f"rd_cost {fen_text(n)} × 20% = {n / 500}"),
        ]
        x, d, cap = n, 5, 5_000_000_000
        if f["city"] in north:
            x, d, cap = n * 6, 25, 6_000_000_000
            steps.append(
                Step("art5", "northern_anhui_uplift", "uplift_factor", "1.2", f"applied: {x / d / 100}")
            )
        else:
            steps.append(Step("art5", "northern_anhui_uplift", "uplift_factor", "1.2", "not applied"))
        fen = min(x // d, max(cap - a, 0))
        ft = fen_text(fen)
        steps.append(Step("art5", "cap", "cap_per_project", fen_text(cap), f"already {fen_text(a)}: {ft}"))
        steps.append(Step("art5", "round", "rounding", "down", ft))
        return (fen, tuple(steps), (Reason(f"符合条件，最高可获 {ft} 元", f"eligible: at most {ft} yuan"),))

    c0 = time.process_time()
    for facts in cases:
        hand(facts)
    hand_cpu = time.process_time() - c0
    return {
        "cases": total,
        "engine_cpu_s": engine_cpu,
        "hand_cpu_s": hand_cpu,
        "engine_per_cpu_s": total / engine_cpu,
        "hand_per_cpu_s": total / hand_cpu,
    }


def run_vector(rows: int, seed: int) -> dict[str, Any]:
    packs = load_pack_set()
    rng = np.random.default_rng(seed)
    size = min(rows, 2_000_000)
    reps = max(1, rows // size)
    spend = rng.integers(0, 10**11, size=size, dtype=np.int64)  # up to 1e9 yuan
    in_prov = rng.random(size) < 0.9
    self_use = rng.random(size) < 0.1
    already = rng.integers(0, 10**9, size=size, dtype=np.int64)
    art2_amounts(packs, "2025-06", spend[:1000], in_prov[:1000], self_use[:1000], already[:1000])  # warm
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(reps):
        exact = art2_amounts(packs, "2025-06", spend, in_prov, self_use, already)
    vec_wall, vec_cpu = time.perf_counter() - w0, time.process_time() - c0
    # float baselines of the same rule (20 % of spend, rounded down to the fen)
    w0 = time.perf_counter()
    f32 = np.where(in_prov & ~self_use, np.floor(spend.astype(np.float32) * np.float32(0.2)), 0).astype(
        np.int64
    )
    f32_wall = time.perf_counter() - w0
    w0 = time.perf_counter()
    f64 = np.where(in_prov & ~self_use, np.floor(spend.astype(np.float64) * 0.2), 0).astype(np.int64)
    f64_wall = time.perf_counter() - w0
    large = exact >= 100_000 * 100  # awards of 100,000 yuan or more
    # the generic vectorised mode on a capped, uplifted article
    n5 = min(size, 1_000_000)
    cols5 = {
        "city": rng.choice(np.array(CITIES), size=n5),
        "rd_cost": rng.integers(0, 10**12, size=n5, dtype=np.int64),
        "selection_mode": np.full(n5, "directed"),
        "topic": np.full(n5, "general_llm"),
        "in_provincial_plan": rng.random(n5) < 0.9,
        "already_awarded": rng.integers(0, 6 * 10**9, size=n5, dtype=np.int64),
    }
    w0 = time.perf_counter()
    a5 = amounts(packs, "art5", "2024-06-30", cols5)
    art5_wall = time.perf_counter() - w0
    # exactness against the explained mode on a sample
    pick = rng.choice(size, size=20_000, replace=False)
    mismatches = 0
    for i in pick.tolist():
        s, a = int(spend[i]), int(already[i])
        d = evaluate(
            "art2",
            {
                "city": "340100",
                "in_province": bool(in_prov[i]),
                "self_use": bool(self_use[i]),
                "spend": f"{s // 100}.{s % 100:02d}",
                "subsidy_this_year": f"{a // 100}.{a % 100:02d}",
            },
            "2025-06-01",
            packs,
        )
        mismatches += d.amount_fen != int(exact[i])
    pick5 = rng.choice(n5, size=5_000, replace=False)
    for i in pick5.tolist():
        r, a = int(cols5["rd_cost"][i]), int(cols5["already_awarded"][i])
        d = evaluate(
            "art5",
            {
                "city": str(cols5["city"][i]),
                "rd_cost": f"{r // 100}.{r % 100:02d}",
                "selection_mode": "directed",
                "topic": "general_llm",
                "in_provincial_plan": bool(cols5["in_provincial_plan"][i]),
                "already_awarded": f"{a // 100}.{a % 100:02d}",
            },
            "2024-06-30",
            packs,
        )
        mismatches += d.amount_fen != int(a5[i])
    return {
        "rows": size * reps,
        "art2_wall_s": vec_wall,
        "art2_cpu_s": vec_cpu,
        "art2_rows_per_s": size * reps / vec_wall,
        "float32_rows_per_s": size / f32_wall,
        "float64_rows_per_s": size / f64_wall,
        "float32_wrong_fen_share": float(np.mean(f32 != exact)),
        "float32_wrong_fen_share_large": float(np.mean(f32[large] != exact[large])) if large.any() else 0.0,
        "float64_wrong_fen_share": float(np.mean(f64 != exact)),
        "art5_rows": n5,
        "art5_rows_per_s": n5 / art5_wall,
        "explained_vs_vectorised_checked": 25_000,
        "explained_vs_vectorised_mismatches": mismatches,
    }


def machine() -> dict[str, object]:
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next(
            (line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), ""
        )
    except OSError:
        model = platform.processor()
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "load_average": os.getloadavg(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--json-cases", type=int, default=200_000)
    ap.add_argument("--baseline-cases", type=int, default=20_000)
    ap.add_argument("--vector-rows", type=int, default=10_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20231108)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_policy.json")
    args = ap.parse_args()

    explained = run_explained(args.cases, args.seed)
    as_json = run_explained(args.json_cases, args.seed + 1, as_json=True)
    parallel = run_parallel(args.cases, args.workers, args.seed + 2) if args.workers > 1 else None
    uncached = run_uncached(args.baseline_cases, args.seed + 3)
    vector = run_vector(args.vector_rows, args.seed)
    ceiling = run_ceiling(50_000, args.seed + 4)

    def rate(r: dict[str, float], key: str = "wall_s") -> float:
        return r["cases"] / r[key]

    rows = [
        (
            "explained, full steps + reasons (1 process)",
            explained["cases"],
            rate(explained),
            rate(explained, "cpu_s"),
        ),
        (
            "explained + JSON line out (to_json), 1 process",
            as_json["cases"],
            rate(as_json),
            rate(as_json, "cpu_s"),
        ),
    ]
    if parallel:
        rows.append(
            (
                f"explained, {args.workers} processes",
                parallel["cases"],
                rate(parallel),
                rate(parallel, "cpu_s"),
            )
        )
    rows += [
        ("art5 only: the engine", ceiling["cases"], None, ceiling["engine_per_cpu_s"]),
        (
            "art5 only: hand-written function, no validation",
            ceiling["cases"],
            None,
            ceiling["hand_per_cpu_s"],
        ),
        ("baseline: compile per case, no caches", uncached["cases"], rate(uncached), rate(uncached, "cpu_s")),
        (
            "vectorised art2_amounts (int64 fen)",
            vector["rows"],
            vector["art2_rows_per_s"],
            vector["rows"] / vector["art2_cpu_s"],
        ),
        (
            "vectorised amounts(art5): cap, uplift, cumulative",
            vector["art5_rows"],
            vector["art5_rows_per_s"],
            None,
        ),
        (
            "baseline: float32 numpy (inexact)",
            vector["rows"] // max(1, vector["rows"] // 2_000_000),
            vector["float32_rows_per_s"],
            None,
        ),
        (
            "baseline: float64 numpy (inexact)",
            vector["rows"] // max(1, vector["rows"] // 2_000_000),
            vector["float64_rows_per_s"],
            None,
        ),
    ]
    print(f"{'mode':52} {'cases':>10} {'cases/s (wall)':>16} {'cases/CPU-s':>14}")
    for name, n, r, c in rows:
        wall = "" if r is None else f"{r:,.0f}"
        cpu = "" if c is None else f"{c:,.0f}"
        print(f"{name:52} {n:>10,} {wall:>16} {cpu:>14}")
    print(f"precompiled vs per-case compile: {rate(explained) / rate(uncached):.1f}x")
    print(
        f"float32 misses the exact fen in {vector['float32_wrong_fen_share']:.1%} of rows "
        f"({vector['float32_wrong_fen_share_large']:.1%} of awards ≥ 100,000 yuan); float64 in "
        f"{vector['float64_wrong_fen_share']:.1%}; integer mode vs explained mode: "
        f"{vector['explained_vs_vectorised_mismatches']} mismatches in "
        f"{vector['explained_vs_vectorised_checked']:,}"
    )
    result = {
        "benchmark": "bench_policy",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "targets": {"explained_cases_per_s": 100_000, "vectorised_cases_per_s": 13_000_000},
        "explained": explained,
        "explained_json": as_json,
        "explained_parallel": parallel,
        "baseline_uncached": uncached,
        "vectorised": vector,
        "table": [
            {"mode": name, "cases": n, "cases_per_s_wall": r, "cases_per_cpu_s": c} for name, n, r, c in rows
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
