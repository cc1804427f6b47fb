"""Simulator benchmark: placement quality on the Philly trace, and replay speed.

    .venv/bin/python bench/bench_simulator.py [--loads 12,24] [--limit N] [--skip-quality] [--skip-speed]

* quality: every placement policy on the Philly trace (Jeon et al., ATC 2019; Pollux's one-row-per-job
  table) replayed on the ``demo`` province at two load factors, in one table, with the ``zhisuan``
  policy's ratios to ``user-choice``, ``least-loaded`` and ``pooled-ideal`` (same run, same machine);
* speed: all 82,247 jobs replayed under ``zhisuan`` at load factor 1 and at the highest quality load,
  timed as CPU seconds of this process (the machine is shared; wall time is reported too).

Prints tables and writes ``bench/results/bench_simulator.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from _replay import ART2_ON, PACKS, PHILLY, machine

from zhisuan.cli.simulate import voucher_estimate
from zhisuan.compute.placement import policy_names
from zhisuan.compute.province import load_province
from zhisuan.compute.simulator import simulate
from zhisuan.compute.traces import load_trace

OUT = Path(__file__).parent / "results" / "bench_simulator.json"
SPEED_TARGET_S = 10.0


def row(m: dict[str, Any]) -> list[str]:
    return [
        str(m["policy"]),
        f"{m['completed']:,}",
        str(m["unrunnable"]),
        f"{m['jct_avg_s']:,.0f}",
        f"{m['jct_p50_s']:,.0f}",
        f"{m['jct_p95_s']:,.0f}",
        f"{m['wait_avg_s']:,.0f}",
        f"{m['utilization']:.3f}",
        f"{float(m['user_cost_yuan']):,.0f}",
        f"{float(m['voucher_yuan']):,.0f}",
        f"{m['jain_fairness']:.3f}",
        f"{m['cpu_s']:.1f}",
    ]


HEAD = [
    "policy",
    "done",
    "unrun",
    "JCT avg",
    "JCT p50",
    "JCT p95",
    "wait avg",
    "util",
    "user ¥",
    "voucher ¥",
    "Jain",
    "cpu s",
]


def table(title: str, rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEAD)]
    print(f"\n{title}")
    print("  ".join(h.rjust(w) for h, w in zip(HEAD, widths, strict=True)))
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))


def quality(loads: list[str], limit: int | None) -> list[dict[str, Any]]:
    province = load_province("demo")
    out: list[dict[str, Any]] = []
    for lf in loads:
        trace = load_trace(PHILLY, "philly", load_factor=lf, limit=limit, orgs=province.org_for)
        runs: dict[str, dict[str, Any]] = {}
        for name in policy_names():
            m = dict(
                simulate(trace, province, name, vouchers=voucher_estimate(province, PACKS, ART2_ON)).metrics
            )
            m.pop("unrunnable_jobs", None)
            runs[name] = m
            print(f"  load ×{lf} {name}: {m['cpu_s']:.1f} s cpu", flush=True)
        z = runs["zhisuan"]
        ratios = {
            f"jct_vs_{base}": round(z["jct_avg_s"] / runs[base]["jct_avg_s"], 3)
            for base in ("user-choice", "least-loaded", "pooled-ideal")
        } | {
            f"cost_vs_{base}": round(float(z["user_cost_yuan"]) / float(runs[base]["user_cost_yuan"]), 3)
            for base in ("user-choice", "least-loaded", "pooled-ideal")
        }
        table(
            f"Philly ({len(trace.jobs):,} jobs) on demo ({province.cards:,} cards), load ×{lf}",
            [row(runs[n]) for n in policy_names()],
        )
        print("  zhisuan ratios: " + ", ".join(f"{k} {v}" for k, v in ratios.items()))
        out.append({"load_factor": lf, "jobs": len(trace.jobs), "runs": runs, "zhisuan_ratios": ratios})
    return out


def speed(loads: list[str]) -> list[dict[str, Any]]:
    province = load_province("demo")
    out = []
    for lf in loads:
        t0, c0 = time.perf_counter(), time.process_time()
        trace = load_trace(PHILLY, "philly", load_factor=lf, orgs=province.org_for)
        load_wall, load_cpu = time.perf_counter() - t0, time.process_time() - c0
        m = simulate(trace, province, "zhisuan", vouchers=voucher_estimate(province, PACKS, ART2_ON)).metrics
        out.append(
            {
                "load_factor": lf,
                "jobs": len(trace.jobs),
                "import_cpu_s": round(load_cpu, 2),
                "import_wall_s": round(load_wall, 2),
                "simulate_cpu_s": m["cpu_s"],
                "simulate_wall_s": m["wall_s"],
                "jobs_per_cpu_s": round(len(trace.jobs) / float(m["cpu_s"])),  # type: ignore[arg-type]
                "target_s": SPEED_TARGET_S,
                "meets_target": float(m["cpu_s"]) <= SPEED_TARGET_S,  # type: ignore[arg-type]
            }
        )
        s = out[-1]
        print(
            f"\nspeed, load ×{lf}: {s['jobs']:,} jobs — import {s['import_cpu_s']} s cpu, "
            f"simulate {s['simulate_cpu_s']} s cpu ({s['simulate_wall_s']} s wall), "
            f"{s['jobs_per_cpu_s']:,} jobs/s; target ≤ {SPEED_TARGET_S} s: "
            f"{'met' if s['meets_target'] else 'MISSED'}"
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--loads", default="12,24", help="comma-separated load factors for the quality table")
    ap.add_argument("--limit", type=int, default=None, help="only the first N jobs (quick runs)")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args()
    loads = [x.strip() for x in args.loads.split(",") if x.strip()]
    result: dict[str, Any] = {"machine": machine(), "trace": str(PHILLY), "province": "demo"}
    print(f"machine: {result['machine']}")
    if not args.skip_quality:
        result["quality"] = quality(loads, args.limit)
    if not args.skip_speed:
        result["speed"] = speed(["1", loads[-1]])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(f"\nwrote {OUT}")


if __name__ == "__main__":
    main()
