"""Run-time estimates from each organization's history (pure: fed by whoever sees jobs end).

A job's owner states a run time on the reference accelerator; how good that figure is depends on
who states it. :class:`RunTimeHistory` keeps, per organization, how the actual run times of its last
finished jobs compared with what was asked (the ratio actual ÷ requested) and estimates a new job's
run time as its request times the 90th percentile of those ratios (``quantile``), in steps of a
quarter doubling (so that a queue re-estimates an organization's waiting jobs only when its
factor really changes). Until an organization has ``min_jobs`` finished jobs its requests are taken
as they are; the ratio is clamped to ``[low, high]`` so that one organization's odd history cannot
turn a request into nothing or into months.

The simulator feeds it with every job that completes; the live scheduler with the jobs the store
holds as completed (see :func:`zhisuan.compute.scheduling.runtime_history`). The ``zhisuan`` policy
orders and reserves by the estimate; a job still runs for its true time.

>>> h = RunTimeHistory(min_jobs=2)
>>> h.estimate("lab", 3600)
3600
>>> for asked, ran in ((3600, 900), (7200, 1800), (600, 150)):
...     h.observe("lab", asked, ran)
>>> h.ratio("lab"), h.estimate("lab", 3600), h.estimate("other", 3600)
(0.25, 900, 3600)
>>> h.observe("lab", 1000, 300); round(h.ratio("lab"), 3)  # 90th percentile 0.3: the step 2 ** -1.75
0.297
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from typing import Final

from zhisuan.core.errors import ValidationError

#: how many of an organization's most recent finished jobs count
DEFAULT_WINDOW: Final = 64
#: how many finished jobs an organization needs before its requests are corrected
DEFAULT_MIN_JOBS: Final = 8
#: which quantile of the ratios counts: a high one keeps estimates long enough for nine jobs in
#: ten (EASY backfill and reservations rest on estimated ends; the median made half of them too
#: short and mean JCT worse on 14 of 18 padded rows of the overload sweep, see docs/benchmarks.md)
DEFAULT_QUANTILE: Final = 0.9


class RunTimeHistory:
    """Per organization, a high quantile (default the 90th percentile) of the ratio of actual to
    requested run time over its last jobs."""

    __slots__ = ("_cache", "_recent", "_sorted", "high", "low", "min_jobs", "quantile", "window")

    def __init__(
        self,
        *,
        window: int = DEFAULT_WINDOW,
        min_jobs: int = DEFAULT_MIN_JOBS,
        low: float = 1 / 64,
        high: float = 4.0,
        quantile: float = DEFAULT_QUANTILE,
    ) -> None:
        if window < 1:
            raise ValidationError("the history window must hold at least one job", field="window")
        if not 1 <= min_jobs <= window:
            raise ValidationError("min_jobs must be between 1 and the window", field="min_jobs")
        if not 0 < low <= 1 <= high:
            raise ValidationError("the ratio bounds must satisfy 0 < low <= 1 <= high", field="low")
        if not 0 <= quantile <= 1:
            raise ValidationError("the quantile must be between 0 and 1", field="quantile")
        self.quantile = quantile
        self.window = window
        self.min_jobs = min_jobs
        self.low = low
        self.high = high
        self._recent: dict[str, deque[float]] = {}
        self._sorted: dict[str, list[float]] = {}
        self._cache: dict[str, float] = {}

    def observe(self, org: str, requested_s: int, actual_s: int) -> None:
        """One of ``org``'s jobs asked for ``requested_s`` and ran ``actual_s`` (reference seconds)."""
        if requested_s < 1 or actual_s < 1:
            raise ValidationError("run times must be at least one second", field="requested_s")
        r = actual_s / requested_s
        recent = self._recent.get(org)
        if recent is None:
            recent = self._recent[org] = deque()
            self._sorted[org] = []
        ordered = self._sorted[org]
        if len(recent) == self.window:
            old = recent.popleft()
            del ordered[bisect_left(ordered, old)]
        recent.append(r)
        insort(ordered, r)
        self._cache.pop(org, None)

    def jobs(self, org: str) -> int:
        """How many of ``org``'s finished jobs the estimate rests on now."""
        recent = self._recent.get(org)
        return len(recent) if recent is not None else 0

    def ratio(self, org: str) -> float:
        """The factor ``org``'s requests are multiplied by (1 until it has ``min_jobs`` jobs)."""
        found = self._cache.get(org)
        if found is not None:
            return found
        ordered = self._sorted.get(org, [])
        n = len(ordered)
        if n < self.min_jobs:
            found = 1.0
        else:
            med = ordered[min(n - 1, int(self.quantile * n))]
            # in steps of a quarter doubling: queued estimates change only when the factor really does
            step = 2 ** (round(4 * math.log2(med)) / 4)
            found = min(self.high, max(self.low, step))
        self._cache[org] = found
        return found

    def estimate(self, org: str, requested_s: int) -> int:
        """``org``'s request corrected by its history, in whole seconds (at least one)."""
        r = self.ratio(org)
        if r == 1.0:
            return requested_s
        return max(1, round(requested_s * r))


__all__ = ["DEFAULT_MIN_JOBS", "DEFAULT_QUANTILE", "DEFAULT_WINDOW", "RunTimeHistory"]
