"""Command-line start-up: ``zhisuan --help`` against a bare Python interpreter, in the same run.

Each command runs ``--runs`` times as a fresh process; the median wall time and the median CPU time
(user + system, less sensitive to other work on the machine) are reported, with their ratio to the
bare interpreter (``python -c pass``) and to a one-command Typer app's ``--help``.

Usage::

    .venv/bin/python bench/bench_startup.py [--runs 15]

Writes ``bench/results/bench_startup.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
TYPER_APP = (
    "import typer\napp = typer.Typer(add_completion=False)\n@app.command()\ndef a() -> None: ...\napp()\n"
)
COMMANDS = {
    "zhisuan --help": [sys.executable, "-m", "zhisuan", "--help"],
    "python -c pass": [sys.executable, "-c", "pass"],
    "one-command Typer app --help": [sys.executable, "-c", TYPER_APP, "--help"],
}


def measure(cmd: list[str], runs: int) -> dict[str, float]:
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return {"wall_s": round(statistics.median(walls), 3), "cpu_s": round(statistics.median(cpus), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    got = {name: measure(cmd, args.runs) for name, cmd in COMMANDS.items()}
    ours, bare = got["zhisuan --help"], got["python -c pass"]
    print(
        f"zhisuan --help: {ours['wall_s']} s wall, {ours['cpu_s']} s CPU "
        f"({round(ours['cpu_s'] / bare['cpu_s'], 1)}× the bare interpreter's CPU; target ≤ 0.3 s)"
    )
    for name, r in got.items():
        print(f"  {name:<30} wall {r['wall_s']:>6} s   CPU {r['cpu_s']:>6} s")
    RESULTS.mkdir(exist_ok=True)
    machine = {
        "cpus": os.cpu_count(),
        "load_after": os.getloadavg(),
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    (RESULTS / "bench_startup.json").write_text(json.dumps({"machine": machine, "results": got}, indent=2))


if __name__ == "__main__":
    main()
