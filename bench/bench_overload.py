"""Overload sweep: every placement policy at loads ×1 … ×32 on small, contended provinces.

    nice -n 10 .venv/bin/python bench/bench_overload.py [--loads 1,2,4,8,16,32] [--fresh]
        [--only NAME] [--check-seeds 3] [--padded] [--perturb 12] [--plot docs/overload-sweep.png]

Scenarios (each a province of 8-card pools and a trace; see ``SCENARIOS``):

* synthetic traces, made here with a fixed seed and written to ``bench/traces/`` as canonical CSV:
  Poisson arrivals sized so that load ×1 keeps the province about 30% busy; run times heavy-tailed
  (lognormal: median 10 min, σ 2.2; or Pareto: α 1.05 from 2 min), capped at 14 days; 80% 1-card
  jobs, 8% 2, 5% 4 and 7% 8-card gang jobs that need a whole pool; 8 organizations of Zipf-like size;
* Philly (Jeon et al., ATC 2019): one job in ten of the first 40,000, on ``philly-small`` (48 cards).

Per load it prints each policy's mean, median and p99 JCT, mean wait, user cost and Jain fairness,
checks the targets of issue 14 for ``zhisuan`` (mean and median JCT ≤ 1.05 × the best other
policy's, user cost ≤ least-loaded's, p99 ≤ 1.25 × pooled-ideal's), writes
``bench/results/bench_overload.json`` and draws JCT-against-load curves. Runs are cached in
``bench/results/overload-cache/`` by trace, province, load, policy, seed and the source of the
placement code; ``--fresh`` ignores the cache. ``--check-seeds N`` also runs N more trace seeds per
synthetic scenario and random provinces (the same targets, a summary only). ``--padded`` runs the
synthetic scenarios again with each organization over-asking its run times by its own factor
(``PAD``), ``zhisuan`` with and without its run-time history (``placement.estimates``).
``--perturb K`` runs each sweep scenario again on K traces that each lack one short 1-card job, and
prints per load how many miss a target and each ratio's range and median over them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import statistics
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from _replay import ART2_ON, PACKS, PHILLY, machine

from zhisuan.cli.simulate import plot_sweep, voucher_estimate
from zhisuan.compute.model import DEFAULT_REFERENCE, JobSpec, Scaling
from zhisuan.compute.placement import RunTimeHistory, policy_names
from zhisuan.compute.province import Province, load_province
from zhisuan.compute.simulator import TARGETS, check_targets, simulate
from zhisuan.compute.traces import Trace, compress, load_trace, to_canonical

HERE = Path(__file__).parent
ROOT = HERE.parent
PROVINCES = HERE / "provinces"
TRACES = HERE / "traces"
OUT = HERE / "results" / "bench_overload.json"
CACHE = HERE / "results" / "overload-cache"
PLOT = ROOT / "docs" / "overload-sweep.png"
LOADS = ("1", "2", "4", "8", "16", "32")
BASE_BUSY = 0.3  # load ×1 keeps the province this busy (offered work ÷ capacity)
JOBS = 2000
MAX_RUN_S = 14 * 86400
CARD_MIX = ((1, 0.80), (2, 0.08), (4, 0.05), (8, 0.07))
ORGS = 8


# ---- traces ----------------------------------------------------------------------------------------


def capacity_ref(province: Province) -> float:
    """Reference-card seconds of work the province does per second (V100 units)."""
    scaling = Scaling()
    return sum(p.cards * float(scaling.speedup(DEFAULT_REFERENCE, p.accelerator_key)) for p in province.pools)


def run_time(rng: random.Random, dist: str) -> int:
    if dist == "lognormal":
        x = 600 * math.exp(rng.gauss(0.0, 2.2))
    elif dist == "pareto":
        x = 120 * rng.paretovariate(1.05)
    else:
        raise ValueError(dist)
    return max(30, min(MAX_RUN_S, round(x)))


def synthetic(province: Province, dist: str, seed: int, jobs: int = JOBS) -> Trace:
    """A heavy-tailed trace sized so that load ×1 keeps ``province`` about ``BASE_BUSY`` busy."""
    rng = random.Random(f"{dist}:{seed}")
    weights = [1 / (k + 1) for k in range(ORGS)]
    sizes, probs = zip(*CARD_MIX, strict=True)
    drawn = [
        (
            rng.choices(sizes, probs)[0],
            run_time(rng, dist),
            f"org-{rng.choices(range(1, ORGS + 1), weights)[0]}",
        )
        for _ in range(jobs)
    ]
    mean_work = sum(c * r for c, r, _o in drawn) / jobs
    rate = BASE_BUSY * capacity_ref(province) / mean_work  # jobs per second
    t = 0.0
    specs = []
    for k, (cards, rt, org) in enumerate(drawn):
        specs.append(
            JobSpec(id=f"{dist[0]}{seed}-{k:05d}", org=org, cards=cards, runtime_s=rt, submit_s=int(t))
        )
        t += rng.expovariate(rate)
    return Trace(name=f"{dist}-{province.key}-s{seed}", jobs=tuple(specs))


def philly_sample(every: int = 10, first: int = 40_000) -> Trace:
    """One Philly job in ``every`` of the first ``first`` (by submit time), 8 cards or fewer kept too."""
    full = load_trace(PHILLY, "philly", limit=first)
    return Trace(name=f"philly-1in{every}", jobs=full.jobs[::every], epoch_s=full.epoch_s)


def trace_file(trace: Trace) -> Path:
    """Write ``trace`` as canonical CSV under bench/traces/ (once) and return the path."""
    TRACES.mkdir(parents=True, exist_ok=True)
    path = TRACES / f"{trace.name}.csv"
    text = to_canonical(trace.jobs)
    if not path.is_file() or path.read_text("utf-8") != text:
        path.write_text(text, "utf-8")
    return path


# ---- scenarios ---------------------------------------------------------------------------------------


def scenarios() -> list[tuple[str, Path, Path]]:
    """(name, trace CSV, province YAML) for the sweep in the docs."""
    out: list[tuple[str, Path, Path]] = []
    for prov, dist, seed in (
        ("stress-a", "lognormal", 1),
        ("stress-b", "pareto", 2),
        ("stress-c", "lognormal", 3),
    ):
        ppath = PROVINCES / f"{prov}.yaml"
        trace = synthetic(load_province(ppath), dist, seed)
        out.append((f"{dist} on {prov}", trace_file(trace), ppath))
    out.append(
        ("Philly 1-in-10 on philly-small", trace_file(philly_sample()), PROVINCES / "philly-small.yaml")
    )
    return out


def random_province(seed: int) -> Path:
    """A random small contended province: 3–7 pools of 8 cards, mixed models and prices."""
    rng = random.Random(f"province:{seed}")
    models = [
        ("h100-sxm5-80gb", 24, 34),
        ("a100-sxm4-80gb", 14, 19),
        ("a800-sxm4-80gb", 13, 17),
        ("ascend-910b3", 9, 13),
        ("l40s-48gb", 8, 11),
        ("h20-96gb", 7, 10),
        ("hygon-dcu-k100-ai", 5, 8),
        ("rtx-4090-24gb", 3, 5),
        ("v100-sxm2-32gb", 4, 6),
    ]
    pools = []
    for k in range(rng.randint(3, 7)):
        key, lo, hi = rng.choice(models)
        pools.append(
            {
                "id": f"r{seed}-p{k}",
                "accelerator": key,
                "nodes": 1,
                "cards_per_node": 8,
                "price": f"{rng.uniform(lo, hi):.2f}",
            }
        )
    centers = [
        {
            "id": f"r{seed}-c{i}",
            "name": f"随机中心 {i}",
            "city": "340100",
            "operator": {"name": f"随机运营商 {i}"},
            "pools": pools[i::2],
        }
        for i in range(2)
        if pools[i::2]
    ]
    data = {"province": f"random-{seed}", "name": f"随机省 {seed}", "centers": centers}
    path = HERE / "results" / "overload-cache" / f"random-{seed}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    return path


# ---- running, with a cache ---------------------------------------------------------------------------


def code_hash() -> str:
    h = hashlib.sha256()
    for p in sorted((ROOT / "src" / "zhisuan" / "compute" / "placement").glob("*.py")):
        h.update(p.read_bytes())
    h.update((ROOT / "src" / "zhisuan" / "compute" / "simulator.py").read_bytes())
    return h.hexdigest()[:12]


#: how much each organization of a synthetic trace over-asks (``--padded``): requested = actual × this
PAD = {f"org-{k + 1}": f for k, f in enumerate((1.0, 2.0, 6.0, 1.5, 10.0, 3.0, 1.2, 4.0))}


def padded(trace: Trace) -> Trace:
    """The same jobs, each asking its organization's padding × a lognormal spread (σ 0.5) of its run
    time: the scheduler sees the request, the job runs its true time (``actual_runtime_s``)."""
    rng = random.Random(f"pad:{trace.name}")
    jobs = tuple(
        replace(
            j,
            runtime_s=max(1, round(j.runtime_s * PAD.get(j.org, 1.0) * math.exp(rng.gauss(0.0, 0.5)))),
            actual_runtime_s=j.runtime_s,
        )
        for j in trace.jobs
    )
    return replace(trace, jobs=jobs)


def perturbed(trace: Trace, k: int) -> Trace:
    """``trace`` less one job: a 1-card job shorter than the trace's median run, drawn with seed ``k``
    (the smallest change a trace can take: how much of a row's verdict is this trace's chance?)."""
    runs = sorted(j.runtime_s for j in trace.jobs)
    median = runs[len(runs) // 2]
    small = [i for i, j in enumerate(trace.jobs) if j.cards == 1 and j.runtime_s < median]
    drop = random.Random(f"perturb:{trace.name}:{k}").choice(small)
    return replace(trace, name=f"{trace.name}-less{drop}", jobs=trace.jobs[:drop] + trace.jobs[drop + 1 :])


def run(
    trace_path: Path,
    province_path: Path,
    load: str,
    policy: str,
    seed: int,
    fresh: bool,
    *,
    pad: bool = False,
    learn: bool = True,
) -> dict[str, Any]:
    """One simulation (cached). ``pad``: requests padded per organization (:func:`padded`);
    ``learn=False``: ``zhisuan`` takes requests as they are (no run-time history)."""
    key = hashlib.sha256(
        b"|".join(
            [
                trace_path.read_bytes(),
                province_path.read_bytes(),
                load.encode(),
                policy.encode(),
                str(seed).encode(),
                code_hash().encode(),
                f"pad={pad},learn={learn}".encode(),
            ]
        )
    ).hexdigest()[:20]
    cached = CACHE / f"{key}.json"
    if cached.is_file() and not fresh:
        return json.loads(cached.read_text("utf-8"))  # type: ignore[no-any-return]
    province = load_province(province_path)
    trace = compress(load_trace(trace_path, "canonical", orgs=province.org_for), load)
    if pad:
        trace = padded(trace)
    vouchers = voucher_estimate(province, PACKS, ART2_ON)
    history = RunTimeHistory() if learn else RunTimeHistory(low=1.0, high=1.0)
    m = dict(simulate(trace, province, policy, seed=seed, vouchers=vouchers, history=history).metrics)
    m.pop("unrunnable_jobs", None)
    m["load_factor"] = load
    CACHE.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(m), "utf-8")
    return m


def sweep_rows(
    trace_path: Path,
    province_path: Path,
    loads: list[str],
    seed: int,
    fresh: bool,
    say: Callable[[str], None],
) -> list[dict[str, Any]]:
    rows = []
    for load in loads:
        for policy in policy_names():
            rows.append(run(trace_path, province_path, load, policy, seed, fresh))
        say(f"    ×{load} done")
    return rows


def fmt_table(name: str, rows: list[dict[str, Any]]) -> str:
    head = ["load", "policy", "JCT mean", "JCT p50", "JCT p99", "wait mean", "user ¥", "Jain"]
    lines = [f"\n{name}", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in rows:
        lines.append(
            "| ×{} | {} | {:,.0f} | {:,.0f} | {:,.0f} | {:,.0f} | {:,.0f} | {:.3f} |".format(
                m["load_factor"],
                m["policy"],
                m["jct_avg_s"],
                m["jct_p50_s"],
                m["jct_p99_s"],
                m["wait_avg_s"],
                float(m["user_cost_yuan"]),
                m["jain_fairness"],
            )
        )
    return "\n".join(lines)


def padded_checks(loads: list[str], fresh: bool) -> list[dict[str, Any]]:
    """The synthetic scenarios with padded requests: every policy on the requests, and ``zhisuan``
    also without its run-time history (the targets are checked for ``zhisuan`` with it)."""
    out = []
    for name, tpath, ppath in scenarios():
        if "Philly" in name:
            continue  # Philly's requests are not known: nothing to pad
        rows, plain = [], []
        for load in loads:
            for policy in policy_names():
                rows.append(run(tpath, ppath, load, policy, 0, fresh, pad=True))
            plain.append(run(tpath, ppath, load, "zhisuan", 0, fresh, pad=True, learn=False))
        checks = check_targets(rows)
        print(f"\npadded requests, {name}:")
        for c, p in zip(checks, plain, strict=True):
            me = next(r for r in rows if r["policy"] == "zhisuan" and r["load_factor"] == c["load_factor"])
            print(
                f"  ×{c['load_factor']}: zhisuan mean {me['jct_avg_s']:,.0f} median {me['jct_p50_s']:,.0f} "
                f"(requests only: {p['jct_avg_s']:,.0f}, {p['jct_p50_s']:,.0f}); "
                + ", ".join(f"{k} {v}" for k, v in c["ratios"].items())
                + ("" if c["ok"] else "  MISSED: " + "; ".join(c["missed"])),
                flush=True,
            )
        out.append({"name": name, "rows": rows, "requests_only": plain, "checks": checks})
    return out


def perturb_checks(loads: list[str], k_max: int, fresh: bool) -> list[dict[str, Any]]:
    """Each sweep scenario again on ``k_max`` perturbed traces (:func:`perturbed`), every policy: per
    load, how many of them miss a target, and each ratio's range and median over them."""
    out = []
    for name, tpath, ppath in scenarios():
        province = load_province(ppath)
        base = load_trace(tpath, "canonical", orgs=province.org_for)
        by_load: dict[str, list[dict[str, Any]]] = {load: [] for load in loads}
        for k in range(k_max):
            trace = perturbed(base, k)
            path = CACHE / f"{trace.name}.csv"
            CACHE.mkdir(parents=True, exist_ok=True)
            path.write_text(to_canonical(trace.jobs), "utf-8")
            for c in check_targets(sweep_rows(path, ppath, loads, 0, fresh, lambda s: None)):
                by_load[str(c["load_factor"])].append(c)
        print(f"\nperturbed traces ({k_max}, one short 1-card job less each), {name}:")
        rows = []
        for load, checks in by_load.items():
            ratios = {
                key: sorted(float(c["ratios"][key]) for c in checks)
                for key in TARGETS
                if key in checks[0]["ratios"]
            }
            medians = {key: statistics.median(xs) for key, xs in ratios.items()}
            missed = sum(not c["ok"] for c in checks)
            over = [key for key, v in medians.items() if v > TARGETS[key]]
            print(
                f"  ×{load}: {missed} of {len(checks)} miss; "
                + ", ".join(
                    f"{key} {xs[0]:.3f}–{xs[-1]:.3f} (median {medians[key]:.3f})"
                    for key, xs in ratios.items()
                )
                + (f"  MEDIAN MISSES: {', '.join(over)}" if over else ""),
                flush=True,
            )
            rows.append(
                {
                    "load_factor": load,
                    "missed": missed,
                    "of": len(checks),
                    "ratios": ratios,
                    "medians": medians,
                    "median_missed": over,
                }
            )
        out.append({"name": name, "rows": rows})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--loads", default=",".join(LOADS))
    ap.add_argument("--fresh", action="store_true", help="ignore cached runs")
    ap.add_argument("--only", default=None, help="only scenarios whose name contains this")
    ap.add_argument("--check-seeds", type=int, default=0, help="also check N more seeds and random provinces")
    ap.add_argument("--plot", type=Path, default=PLOT)
    ap.add_argument(
        "--padded",
        action="store_true",
        help="also run the synthetic scenarios with padded requests, zhisuan with and without history",
    )
    ap.add_argument(
        "--perturb",
        type=int,
        default=0,
        metavar="K",
        help="also run each sweep scenario on K traces with one short job less (how stable is a verdict?)",
    )
    args = ap.parse_args()
    loads = [x.strip() for x in args.loads.split(",") if x.strip()]
    result: dict[str, Any] = {"machine": machine(), "targets": TARGETS, "loads": loads, "scenarios": []}
    print(f"machine: {result['machine']}", flush=True)
    misses_total = 0
    curves: list[tuple[str, list[dict[str, Any]]]] = []
    for name, tpath, ppath in scenarios():
        if args.only and args.only not in name:
            continue
        print(f"\n== {name} ({tpath.relative_to(ROOT)}, {ppath.relative_to(ROOT)})", flush=True)
        rows = sweep_rows(tpath, ppath, loads, 0, args.fresh, lambda s: print(s, flush=True))
        checks = check_targets(rows)
        misses = [c for c in checks if not c["ok"]]
        misses_total += len(misses)
        print(fmt_table(name, rows))
        for c in checks:
            print(
                f"  ×{c['load_factor']}: "
                + ", ".join(f"{k} {v}" for k, v in c["ratios"].items())
                + ("" if c["ok"] else "  MISSED: " + "; ".join(c["missed"]))
            )
        result["scenarios"].append(
            {
                "name": name,
                "trace": str(tpath.relative_to(ROOT)),
                "province": str(ppath.relative_to(ROOT)),
                "rows": rows,
                "checks": checks,
            }
        )
        curves.append((name, rows))
    if args.check_seeds:
        extra = []
        for k in range(args.check_seeds):
            for dist in ("lognormal", "pareto"):
                ppath = (
                    random_province(100 + k)
                    if k % 2
                    else PROVINCES / ("stress-a.yaml" if dist == "pareto" else "stress-b.yaml")
                )
                trace = synthetic(load_province(ppath), dist, 10 + k)
                tpath = CACHE / f"{trace.name}.csv"
                tpath.write_text(to_canonical(trace.jobs), "utf-8")
                rows = sweep_rows(tpath, ppath, loads, 0, args.fresh, lambda s: None)
                checks = check_targets(rows)
                missed = [f"×{c['load_factor']}: {'; '.join(c['missed'])}" for c in checks if not c["ok"]]
                print(
                    f"check {trace.name}: {'ok' if not missed else 'MISSED ' + ' | '.join(missed)}",
                    flush=True,
                )
                extra.append({"trace": trace.name, "province": ppath.stem, "checks": checks})
        result["checks"] = extra
    if args.padded:
        result["padded"] = padded_checks(loads, args.fresh)
    if args.perturb:
        result["perturbed"] = perturb_checks(loads, args.perturb, args.fresh)
    if curves:
        plot_sweep(curves, args.plot)
        print(f"\nplot: {args.plot}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", "utf-8")
    print(f"wrote {OUT}; targets missed on {misses_total} rows")
    sys.exit(0)


if __name__ == "__main__":
    main()
