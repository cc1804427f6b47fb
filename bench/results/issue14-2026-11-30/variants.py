r"""Issue 14, 2026-11-30: the variants of ``docs/benchmarks.md`` (*the brief's directions*), re-runnable.

Apply ``variants.patch`` (experimental ``Weights`` knobs, all off by default) to the placement code of
commit 7fb69b5, then, from the repository root:

    PYTHONPATH=src nice -n 10 .venv/bin/python bench/results/issue14-2026-11-30/variants.py '{}'
    PYTHONPATH=src nice -n 10 .venv/bin/python bench/results/issue14-2026-11-30/variants.py \
        '{"better_gain": 0.0}'

The argument is a JSON object of ``Weights`` fields for ``zhisuan``. It runs the sweep's 24 rows and
the 144 held-out rows of ``bench_overload.py --check-seeds 12`` (2 processes) and prints the misses
(``ONLY=sweep`` in the environment: the sweep's rows alone).
The four baselines are run once and cached under the tag of the unchanged code (the patch only touches
``zhisuan``: fair-share paths), ``zhisuan`` per variant and placement source. Output of every run:
``variants.txt``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from multiprocessing import Pool as Procs
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent.parent
sys.path.insert(0, str(BENCH))

import bench_overload as bo  # noqa: E402

from zhisuan.compute.placement import RunTimeHistory, Weights, policy_names  # noqa: E402
from zhisuan.compute.province import load_province  # noqa: E402
from zhisuan.compute.simulator import check_targets, simulate  # noqa: E402
from zhisuan.compute.traces import compress, load_trace, to_canonical  # noqa: E402

CACHE = bo.CACHE / "variants"
BASE_TAG = "base-7fb69b5"


def units(seeds: int = 12) -> list[tuple[str, str, Path, Path]]:
    """(kind, name, trace, province): the sweep's four scenarios, then the held-out traces."""
    out = [("sweep", name, t, p) for name, t, p in bo.scenarios()]
    bo.CACHE.mkdir(parents=True, exist_ok=True)
    for k in range(seeds):
        for dist in ("lognormal", "pareto"):
            if k % 2:
                ppath = bo.random_province(100 + k)
            else:
                ppath = bo.PROVINCES / ("stress-a.yaml" if dist == "pareto" else "stress-b.yaml")
            trace = bo.synthetic(load_province(ppath), dist, 10 + k)
            tpath = bo.CACHE / f"{trace.name}.csv"
            if not tpath.is_file():
                tpath.write_text(to_canonical(trace.jobs), "utf-8")
            out.append(("held", trace.name, tpath, ppath))
    return out


def one(args: tuple[str, str, str, str, str, str]) -> dict[str, Any]:
    tpath, ppath, load, policy, tag, wjson = args
    parts = [Path(tpath).read_bytes(), Path(ppath).read_bytes()]
    parts += [s.encode() for s in (load, policy, tag, wjson)]
    key = hashlib.sha256(b"|".join(parts)).hexdigest()[:20]
    found = CACHE / f"{key}.json"
    if found.is_file():
        return json.loads(found.read_text("utf-8"))  # type: ignore[no-any-return]
    province = load_province(Path(ppath))
    trace = compress(load_trace(Path(tpath), "canonical", orgs=province.org_for), load)
    vouchers = bo.voucher_estimate(province, bo.PACKS, bo.ART2_ON)
    weights = Weights(**json.loads(wjson)) if policy == "zhisuan" else None
    t0 = time.process_time()
    sim = simulate(
        trace, province, policy, seed=0, vouchers=vouchers, history=RunTimeHistory(), weights=weights
    )
    m = dict(sim.metrics)
    m.pop("unrunnable_jobs", None)
    m["load_factor"] = load
    m["cpu_s"] = time.process_time() - t0
    found.write_text(json.dumps(m), "utf-8")
    return m


def main() -> None:
    wjson = json.dumps(json.loads(sys.argv[1] if len(sys.argv) > 1 else "{}"), sort_keys=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    ztag = "z:" + bo.code_hash()
    only = os.environ.get("ONLY")  # "sweep" or "held": run that part alone
    todo = [u for u in units() if only in (None, u[0])]
    runs = []
    for _kind, _name, t, p in todo:
        for load in bo.LOADS:
            for pol in policy_names():
                tag, w = (ztag, wjson) if pol == "zhisuan" else (BASE_TAG, "{}")
                runs.append((str(t), str(p), load, pol, tag, w))
    with Procs(int(os.environ.get("NP", "2"))) as procs:
        res = procs.map(one, runs, chunksize=1)
    i, misses, lines = 0, {"sweep": 0, "held": 0}, []
    n = len(bo.LOADS) * len(policy_names())
    for kind, name, _t, _p in todo:
        rows, i = res[i : i + n], i + n
        for c in check_targets(rows):
            if not c["ok"]:
                misses[kind] += 1
                missed = c["missed"]
                assert isinstance(missed, list)
                lines.append(f"  {kind} {name} x{c['load_factor']}: {'; '.join(missed)}")
    part = f" (ONLY={only})" if only else ""
    counts = f"sweep misses {misses['sweep']}/24, held-out {misses['held']}/144{part}"
    print(f"variant {wjson} code {ztag}: {counts}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
