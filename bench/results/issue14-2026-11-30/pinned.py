r"""Issue 14, seventh pass: where can ``stress-a`` ×4's largest job run so that every target holds?

``stress-a`` ×4 misses one target, user cost (1.033 × least-loaded's), because of one job: ``l1-00580``,
8 cards × 1,209,600 V100-seconds, submitted when no whole pool but the 910B3 is free. This script pins
that job to each pool in turn (the trace's ``accelerator`` column, so the shipped code runs unchanged),
runs ``zhisuan`` on the pinned trace and checks it against the four baselines on the unpinned one (which
place the job themselves). With ``--copies K`` it does the same on the K copies of the trace that
``bench_overload.py --perturb K`` uses (each less one short 1-card job) and prints how many miss. From
the repository root:

    PYTHONPATH=src nice -n 10 .venv/bin/python bench/results/issue14-2026-11-30/pinned.py --copies 12

Output of the run in the docs: ``pinned.txt``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from multiprocessing import Pool as Procs
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

import bench_overload as bo  # noqa: E402

from zhisuan.compute.model import AcceleratorConstraint  # noqa: E402
from zhisuan.compute.placement import RunTimeHistory, policy_names  # noqa: E402
from zhisuan.compute.province import load_province  # noqa: E402
from zhisuan.compute.simulator import check_targets, simulate  # noqa: E402
from zhisuan.compute.traces import Trace, compress, load_trace  # noqa: E402

JOB = "l1-00580"
LOAD = "4"
PROVINCE = bo.PROVINCES / "stress-a.yaml"


def base_trace() -> Trace:
    (name, tpath, ppath) = bo.scenarios()[0]
    assert ppath == PROVINCE, name
    province = load_province(PROVINCE)
    return load_trace(tpath, "canonical", orgs=province.org_for)


def pinned(trace: Trace, model: str | None) -> Trace:
    if model is None:
        return trace
    jobs = tuple(
        replace(j, constraint=AcceleratorConstraint.model(model)) if j.id == JOB else j for j in trace.jobs
    )
    return replace(trace, jobs=jobs)


def one(args: tuple[int, str | None, str]) -> dict[str, Any]:
    copy, model, policy = args
    province = load_province(PROVINCE)
    trace = base_trace()
    if copy >= 0:
        trace = bo.perturbed(trace, copy)
    trace = compress(pinned(trace, model), LOAD)
    vouchers = bo.voucher_estimate(province, bo.PACKS, bo.ART2_ON)
    sim = simulate(trace, province, policy, seed=0, vouchers=vouchers, history=RunTimeHistory())
    m = dict(sim.metrics)
    m.pop("unrunnable_jobs", None)
    m["load_factor"] = LOAD
    job = next(j for j in sim.jobs if j.job_id == JOB)
    m["job_pool"] = job.pool_id
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=0, help="also run K perturbed copies of the trace")
    args = ap.parse_args()
    province = load_province(PROVINCE)
    models: list[str | None] = [None] + [p.accelerator_key for p in province.pools]
    copies = [-1, *range(args.copies)]
    runs: list[tuple[int, str | None, str]] = []
    for c in copies:
        runs += [(c, None, p) for p in policy_names() if p != "zhisuan"]
        runs += [(c, m, "zhisuan") for m in models]
    with Procs(2) as procs:
        res = procs.map(one, runs, chunksize=1)
    by = {(c, m, p): r for (c, m, p), r in zip(runs, res, strict=True)}
    print(f"stress-a x{LOAD}, {JOB} pinned for zhisuan only; baselines unpinned")
    head = ("zhisuan's job on", "mean ÷ best", "median ÷ best", "cost ÷ least-loaded", "p99 ÷ pooled-ideal")
    print("| " + " | ".join(head) + " | misses |")
    print("|---|---:|---:|---:|---:|---|")
    for m in models:
        missed_copies = 0
        for c in copies:
            rows = [by[(c, None, p)] for p in policy_names() if p != "zhisuan"] + [by[(c, m, "zhisuan")]]
            (check,) = check_targets(rows)
            if c == -1:
                ratios = check["ratios"]
                assert isinstance(ratios, dict)
                where = by[(c, m, "zhisuan")]["job_pool"]
                label = f"{where} (its own choice)" if m is None else where
                first = check["missed"]
            elif not check["ok"]:
                missed_copies += 1
        cells = " | ".join(str(ratios[k]) for k in ratios)
        extra = f"; {missed_copies} of {args.copies} copies miss" if args.copies else ""
        print(f"| {label} | {cells} | {', '.join(str(x).split()[0] for x in first) or 'none'}{extra} |")


if __name__ == "__main__":
    main()
