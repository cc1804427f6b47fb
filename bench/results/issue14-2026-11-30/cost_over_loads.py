r"""Issue 14, seventh pass: ``zhisuan``'s user cost summed over a scenario's loads, against least-loaded's.

The target compares cost row by row (one load, one run of least-loaded). This prints the ratio of the
sums over the six loads for the sweep's 4 scenarios and the 24 held-out traces of ``variants.py``
(whose cache it shares; about 3 minutes with nothing cached). From the repository root:

    PYTHONPATH=src nice -n 10 .venv/bin/python bench/results/issue14-2026-11-30/cost_over_loads.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import variants as v

bo = v.bo


def main() -> None:
    ztag = "z:" + bo.code_hash()
    ratios: list[tuple[float, str, str]] = []
    for kind, name, trace, province in v.units():
        total = {"zhisuan": 0.0, "least-loaded": 0.0}
        for load in bo.LOADS:
            for policy in total:
                tag = ztag if policy == "zhisuan" else v.BASE_TAG
                m = v.one((str(trace), str(province), load, policy, tag, "{}"))
                total[policy] += float(m["user_cost_yuan"])
        ratios.append((round(total["zhisuan"] / total["least-loaded"], 3), kind, name))
    for r, kind, name in ratios:
        print(f"{kind:5s} {name:40s} {r}")
    for kind in ("sweep", "held"):
        mine = [r for r, k, _n in ratios if k == kind]
        above = sum(1 for r in mine if r > 1.0)
        print(f"{kind}: {above} of {len(mine)} above least-loaded's (range {min(mine)}–{max(mine)})")


if __name__ == "__main__":
    main()
