"""Placement benchmark: decisions per second with 100,000 queued jobs and 100 pools.

    .venv/bin/python bench/bench_placement.py [--jobs 100000] [--pools 100] [--profile]

* ``Scheduler.decide(queue, pool_states, now)`` — the stateless call a database-backed dispatcher
  makes: rebuild the indexed queue from plain values, run one pass, answer one decision per queued
  job (a placement, or a hold with its reason). Decisions/s = queued jobs / CPU seconds. Every policy.
* the incremental engine the simulator uses: 100,000 jobs stay queued while running jobs end one by
  one; each end triggers a pass (placements/s and passes/s).
* a baseline in the same run: an unindexed dispatcher that checks every job against every pool with
  the model's ``feasible_pools`` (FIFO, first fit), on a 10,000-job slice.

The pools are 90% busy, so most jobs are held: the realistic case for a long queue. ``--profile`` runs
pyinstrument over one ``decide`` and writes ``bench/results/bench_placement_profile.txt``.
Prints a table and writes ``bench/results/bench_placement.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import time
from pathlib import Path
from typing import Any

from zhisuan.compute.model import AcceleratorConstraint, JobSpec, Pool, feasible_pools
from zhisuan.compute.placement import Federation, Placement, PoolState, RunningJob, Scheduler, policy_names
from zhisuan.core.money import Money

OUT = Path(__file__).parent / "results"
MODELS = [
    "h100-sxm5-80gb", "a100-sxm4-80gb", "a800-sxm4-80gb", "h20-96gb", "l40s-48gb",
    "ascend-910b3", "hygon-dcu-k100-ai", "kunlunxin-p800", "mlu370-x8", "metax-c500-oam",
]  # fmt: skip
CITIES = ["340100", "340200", "340300", "340400", "341300", "341200", "340500", "341100"]
TARGET = 20_000


def machine() -> dict[str, Any]:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    model = next(
        (ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith("Model name")), "?"
    )
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "load_average_at_start": os.getloadavg()}  # fmt: skip


def make_pools(rng: random.Random, n: int) -> list[Pool]:
    pools = []
    for i in range(n):
        center = f"c{i // 4}"
        pools.append(
            Pool(
                id=f"p{i}",
                center=center,
                city=CITIES[(i // 4) % len(CITIES)],
                operator=f"op{i // 4}",
                accelerator_key=MODELS[i % len(MODELS)],
                nodes=rng.randint(2, 32),
                cards_per_node=8,
                price=Money.from_fen(rng.randint(700, 3000)),
            )
        )
    return pools


def make_states(rng: random.Random, pools: list[Pool], now: int, busy: float) -> list[PoolState]:
    states = []
    k = 0
    for p in pools:
        used = 0
        running = []
        while used < busy * p.cards:
            cards = rng.choice([1, 1, 2, 4, 8])
            if used + cards > p.cards:
                break
            running.append(
                RunningJob(f"r{k}", f"org{rng.randrange(50)}", cards, now + rng.randint(60, 86_400))
            )
            used += cards
            k += 1
        states.append(PoolState(p, tuple(running)))
    return states


def make_queue(rng: random.Random, n: int, now: int) -> list[JobSpec]:
    out = []
    for i in range(n):
        r = rng.random()
        if r < 0.7:
            constraint = AcceleratorConstraint()
        elif r < 0.8:
            constraint = AcceleratorConstraint(domestic_only=True)
        elif r < 0.9:
            constraint = AcceleratorConstraint.model(rng.choice(MODELS))
        else:
            constraint = AcceleratorConstraint(min_memory_gb=80)
        out.append(
            JobSpec(
                id=f"q{i}",
                org=f"org{rng.randrange(50)}",
                cards=rng.choices([1, 2, 4, 8, 16, 32, 64], weights=[60, 10, 10, 10, 5, 3, 2])[0],
                runtime_s=rng.randint(60, 86_400),
                submit_s=now - rng.randint(0, 86_400),
                constraint=constraint,
            )
        )
    return out


def naive(queue: list[JobSpec], states: list[PoolState]) -> int:
    """Unindexed first-fit FIFO: every job against every pool. Returns jobs placed."""
    free = {s.pool.id: s.pool.cards - sum(s.pool.node_cards(r.cards) for r in s.running) for s in states}
    pools = [s.pool for s in states]
    placed = 0
    for job in sorted(queue, key=lambda j: j.submit_s):
        for p in feasible_pools(job, pools):
            nc = p.node_cards(job.cards)
            if free[p.id] >= nc:
                free[p.id] -= nc
                placed += 1
                break
    return placed


def incremental(queue: list[JobSpec], states: list[PoolState], ends: int) -> dict[str, Any]:
    """The simulator's engine: a long queue stays; running jobs end one by one, each ending a pass."""
    fed = Federation("zhisuan", [s.pool for s in states])
    engine = fed.engines[0]
    running: list[tuple[int, str, str, int]] = []
    for s in states:
        for r in s.running:
            running.append((r.end_s, s.pool.id, r.org, r.cards))
    for job in queue:
        fed.submit(job)
    # occupy with explicit entries so we can end them one at a time
    from zhisuan.compute.placement import Start

    starts = []
    for seq, (end, pid, org, cards) in enumerate(running):
        pool = engine.by_id[pid].pool
        spec = JobSpec(id=f"run{seq}", org=org, cards=cards, runtime_s=1)
        engine.occupy(pid, org, cards, end, seq=-(seq + 1))
        starts.append(Start(spec, pool, 0, end, cards, False, (end, -(seq + 1), pool.node_cards(cards))))
    starts.sort(key=lambda s: s.end_s)
    fed.schedule(0, everything=True)
    placed = passes = 0
    c0 = time.process_time()
    for st in starts[:ends]:
        fed.finish(st)
        placed += len(fed.schedule(st.end_s))
        passes += 1
    cpu = time.process_time() - c0
    return {"ends": passes, "placed": placed, "cpu_s": round(cpu, 3), "passes_per_s": round(passes / cpu),
            "placements_per_s": round(placed / cpu) if placed else 0, "still_queued": fed.queued}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--pools", type=int, default=100)
    ap.add_argument("--busy", type=float, default=0.9, help="share of each pool's cards already running")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    rng = random.Random(42)
    now = 1_000_000
    pools = make_pools(rng, args.pools)
    states = make_states(rng, pools, now, args.busy)
    queue = make_queue(rng, args.jobs, now)
    info = machine()
    print(f"machine: {info}")
    print(f"{len(queue):,} queued jobs, {len(pools)} pools ({sum(p.cards for p in pools):,} cards, "
          f"{args.busy:.0%} busy)")  # fmt: skip
    rows = []
    for name in policy_names():
        c0, t0 = time.process_time(), time.perf_counter()
        decisions = Scheduler(name).decide(queue, states, now)
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        placed = sum(1 for d in decisions if isinstance(d, Placement))
        rows.append({"policy": name, "decisions": len(decisions), "placed": placed, "cpu_s": round(cpu, 3),
                     "wall_s": round(wall, 3), "decisions_per_s": round(len(decisions) / cpu)})  # fmt: skip
    slice_n = min(10_000, len(queue))
    c0 = time.process_time()
    naive_placed = naive(queue[:slice_n], states)
    naive_cpu = time.process_time() - c0
    naive_rate = round(slice_n / naive_cpu)
    inc = incremental(queue, states, ends=20_000)
    print(
        f"\n{'policy':>13} {'decisions':>10} {'placed':>7} {'cpu s':>7} {'decisions/s':>12} {'vs naive':>9}"
    )
    for r in rows:
        print(f"{r['policy']:>13} {r['decisions']:>10,} {r['placed']:>7,} {r['cpu_s']:>7.2f} "
              f"{r['decisions_per_s']:>12,} {r['decisions_per_s'] / naive_rate:>8.1f}×")  # fmt: skip
    print(
        f"{'naive scan':>13} {slice_n:>10,} {naive_placed:>7,} {naive_cpu:>7.2f} {naive_rate:>12,} {1:>8.1f}×"
    )
    print(f"\nincremental (zhisuan, {inc['still_queued']:,} still queued): {inc['ends']:,} job ends → "
          f"{inc['placed']:,} placements in {inc['cpu_s']} s cpu: {inc['passes_per_s']:,} passes/s, "
          f"{inc['placements_per_s']:,} placements/s")  # fmt: skip
    zs = next(r for r in rows if r["policy"] == "zhisuan")
    print(
        f"\ntarget ≥ {TARGET:,} decisions/s (zhisuan decide): "
        f"{'met' if zs['decisions_per_s'] >= TARGET else 'MISSED'}"
    )
    result = {"machine": info, "jobs": len(queue), "pools": len(pools), "busy": args.busy, "decide": rows,
              "naive": {"jobs": slice_n, "placed": naive_placed, "cpu_s": round(naive_cpu, 3),
                        "decisions_per_s": naive_rate},
              "incremental": inc, "target": TARGET}  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
        Scheduler("zhisuan").decide(queue, states, now)
        profiler.stop()
        text = profiler.output_text(unicode=True, color=False, show_all=False)
        (OUT / "bench_placement_profile.txt").write_text(text, "utf-8")
        print(f"profile: {OUT / 'bench_placement_profile.txt'}")
    (OUT / "bench_placement.json").write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(f"wrote {OUT / 'bench_placement.json'}")


if __name__ == "__main__":
    main()
