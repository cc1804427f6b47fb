"""What the replay benchmarks (``bench_overload.py``, ``bench_simulator.py``) share: the Philly trace's
path, the policy packs and the day art. 2 is judged on, and the machine a run was measured on."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from zhisuan.policy import load_pack_set

PHILLY = Path(os.environ.get("ZHISUAN_PHILLY", "/work/shared/traces/philly/philly.csv"))
#: the Philly trace is from 2017, before art. 2: judge every job under the shipped pack as of mid-2025
#: (20% in province), as `zhisuan simulate --art2-on 2025-06-30` does
PACKS = load_pack_set()
ART2_ON = dt.date(2025, 6, 30)


def machine() -> dict[str, Any]:
    """The CPU, cores, Python and load average a result was measured with."""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next(
            (ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith("Model name")), "?"
        )
    except OSError:
        model = "?"
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }
