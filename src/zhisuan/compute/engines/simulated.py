"""An in-process engine on an injected clock: the engine port without a real scheduler behind it.

It is a real (small) engine, not a test double: per accelerator model a fixed number of cards, a
FIFO queue with backfill (a later job starts when it fits and the head of the queue does not), jobs
that run for a given time and end with a given exit code. Time moves only with the clock, so demos and
tests are exact and instant. Configuration::

    {"kind": "simulated", "accelerators": {"a100-sxm4-80gb": {"cards": 16}}}

How long a job runs and how it ends come from ``runtime(request)``; by default from the request's
environment ``ZHISUAN_SIM_SECONDS`` (else its time limit, else 60 s) and ``ZHISUAN_SIM_EXIT_CODE``.

>>> import datetime as dt
>>> from zhisuan.core.clock import ManualClock
>>> from zhisuan.core.ids import JobId
>>> clock = ManualClock(dt.datetime(2025, 6, 1, tzinfo=dt.UTC))
>>> sim = SimulatedEngine({"accelerators": {"a100-sxm4-80gb": {"cards": 8}}}, clock)
>>> req = JobRequest(JobId(1), "a100-sxm4-80gb", 8, "train", env={"ZHISUAN_SIM_SECONDS": "30"})
>>> sub = sim.submit(req)
>>> sub.engine_job_id.startswith("sim-"), sim.capacity()["a100-sxm4-80gb"].free
(True, 0)
>>> clock.advance(31); sim.status(sub.engine_job_id).state
<EngineJobState.SUCCEEDED: 'succeeded'>
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from zhisuan.compute.engines._config import accelerators, opt_int
from zhisuan.compute.engines.port import (
    Capacity,
    EngineJobState,
    EngineUnavailableError,
    JobRequest,
    JobStatus,
    Submission,
    UsageRecord,
)
from zhisuan.core.clock import Clock, SystemClock
from zhisuan.core.errors import ValidationError
from zhisuan.core.ids import JobId

Runtime = Callable[[JobRequest], tuple[float, int]]


def default_runtime(request: JobRequest) -> tuple[float, int]:
    """Seconds to run and exit code, from ``ZHISUAN_SIM_SECONDS`` / ``ZHISUAN_SIM_EXIT_CODE``."""
    seconds = float(request.env.get("ZHISUAN_SIM_SECONDS", request.time_limit_s or 60))
    return seconds, int(request.env.get("ZHISUAN_SIM_EXIT_CODE", "0"))


@dataclass
class _SimJob:
    engine_job_id: str
    request: JobRequest
    seconds: float
    exit_code: int
    submitted: dt.datetime
    seq: int = 0
    state: EngineJobState = EngineJobState.PENDING
    start: dt.datetime | None = None
    end: dt.datetime | None = None


class SimulatedEngine:
    """FIFO-with-backfill scheduling of whole cards per accelerator model, on the given clock."""

    kind = "simulated"

    def __init__(
        self,
        config: Mapping[str, object],
        clock: Clock | None = None,
        runtime: Runtime | None = None,
    ) -> None:
        self._clock = clock or SystemClock()
        self._runtime = runtime or default_runtime
        self.cards: dict[str, int] = {}
        for model, spec in accelerators(config).items():
            self.cards[model] = opt_int(spec, "cards", f"engine.accelerators.{model}", 8)
        self._jobs: dict[str, _SimJob] = {}
        self._ids = itertools.count(1)
        # Engine job ids differ between processes: a restarted worker's engine must not hand out an
        # id that a job of the previous process still carries in the database.
        self._token = secrets.token_hex(3)
        self.available = True  # set False to make the engine unreachable (faults, demos)

    # ------------------------------------------------------------------ the scheduler
    def _check(self) -> None:
        if not self.available:
            raise EngineUnavailableError("the simulated engine is down")

    def _advance(self) -> None:
        """Play every event up to the clock's now: ends free cards, free cards start queued jobs."""
        now = self._clock.now()
        while True:
            running = [j for j in self._jobs.values() if j.state == EngineJobState.RUNNING]
            ending = [j for j in running if j.start and j.start + dt.timedelta(seconds=j.seconds) <= now]
            moment = min((j.start + dt.timedelta(seconds=j.seconds) for j in ending if j.start), default=now)
            for job in ending:
                if job.start and job.start + dt.timedelta(seconds=job.seconds) == moment:
                    job.end = moment
                    job.state = EngineJobState.SUCCEEDED if job.exit_code == 0 else EngineJobState.FAILED
            started = self._start_waiting(moment)
            if not ending and not started:
                return

    def _start_waiting(self, moment: dt.datetime) -> bool:
        started = False
        for model, total in self.cards.items():
            used = sum(
                j.request.cards
                for j in self._jobs.values()
                if j.state == EngineJobState.RUNNING and j.request.accelerator == model
            )
            for job in sorted(self._jobs.values(), key=lambda j: (j.submitted, j.seq)):
                if job.state != EngineJobState.PENDING or job.request.accelerator != model:
                    continue
                if job.request.cards <= total - used:  # FIFO, and backfill what fits behind the head
                    job.state, job.start = EngineJobState.RUNNING, max(moment, job.submitted)
                    used += job.request.cards
                    started = True
        return started

    def _view(self, job: _SimJob) -> JobStatus:
        return JobStatus(
            engine_job_id=job.engine_job_id,
            job_id=job.request.job_id,
            attempt=job.request.attempt,
            state=job.state,
            exit_code=job.exit_code
            if job.state in (EngineJobState.SUCCEEDED, EngineJobState.FAILED)
            else None,
            start=job.start,
            end=job.end,
            submitted=job.submitted,
        )

    # ------------------------------------------------------------------ port
    def submit(self, request: JobRequest) -> Submission:
        self._check()
        if request.accelerator not in self.cards:
            raise ValidationError(f"the simulated engine has no {request.accelerator}", field="accelerator")
        if request.cards > self.cards[request.accelerator]:
            raise ValidationError(
                f"{request.cards} cards asked, the engine has {self.cards[request.accelerator]}",
                field="cards",
            )
        existing = self.find(request.job_id, request.attempt, request.not_before)
        if existing is not None:
            return Submission(existing.engine_job_id, request.job_id, request.attempt, existing=True)
        seconds, exit_code = self._runtime(request)
        seq = next(self._ids)
        job = _SimJob(f"sim-{self._token}-{seq}", request, seconds, exit_code, self._clock.now(), seq)
        self._jobs[job.engine_job_id] = job
        self._advance()
        return Submission(job.engine_job_id, request.job_id, request.attempt, existing=False)

    def find(
        self, job_id: JobId, attempt: int = 1, not_before: dt.datetime | None = None
    ) -> JobStatus | None:
        self._check()
        self._advance()
        hits = [
            self._view(job)
            for job in self._jobs.values()
            if job.request.job_id == job_id and job.request.attempt == attempt
        ]
        hits = [h for h in hits if h.belongs_after(not_before)]
        return hits[-1] if hits else None

    def status(self, engine_job_id: str) -> JobStatus | None:
        self._check()
        self._advance()
        job = self._jobs.get(engine_job_id)
        return None if job is None else self._view(job)

    def jobs(self) -> Sequence[JobStatus]:
        self._check()
        self._advance()
        return [self._view(j) for j in self._jobs.values()]

    def cancel(self, engine_job_id: str) -> None:
        self._check()
        self._advance()
        job = self._jobs.get(engine_job_id)
        if job is None or job.state.finished:
            return
        job.state, job.end = EngineJobState.CANCELLED, self._clock.now()
        self._advance()

    def capacity(self) -> Mapping[str, Capacity]:
        self._check()
        self._advance()
        out = {}
        for model, total in self.cards.items():
            used = sum(
                j.request.cards
                for j in self._jobs.values()
                if j.state == EngineJobState.RUNNING and j.request.accelerator == model
            )
            out[model] = Capacity(model, total, total - used)
        return out

    def accounting(self, since: dt.datetime) -> Sequence[UsageRecord]:
        self._check()
        self._advance()
        out: list[UsageRecord] = []
        for job in self._jobs.values():
            if not job.state.finished or job.end is None or job.end < since:
                continue
            out.append(
                UsageRecord(
                    engine_job_id=job.engine_job_id,
                    job_id=job.request.job_id,
                    attempt=job.request.attempt,
                    start=job.start or job.end,
                    end=job.end,
                    cards=job.request.cards if job.start else 0,
                    accelerator=job.request.accelerator,
                    state=job.state,
                    exit_code=self._view(job).exit_code,
                )
            )
        return out

    def logs(self, engine_job_id: str) -> str:
        status = self.status(engine_job_id)
        if status is None:
            return ""
        return f"simulated job {engine_job_id}: {status.state}\n"

    def resume(
        self,
        engine_job_id: str,
        request: JobRequest,
        *,
        started: dt.datetime | None,
        seconds: float,
        exit_code: int = 0,
    ) -> JobStatus:
        """Take over a job this process did not start (the engine keeps no state across restarts):
        one the database knows as ``engine_job_id``, started at ``started`` (None: still waiting),
        running ``seconds`` in all."""
        self._check()
        if engine_job_id not in self._jobs:
            seq = next(self._ids)
            job = _SimJob(engine_job_id, request, seconds, exit_code, started or self._clock.now(), seq)
            if started is not None:
                job.state, job.start = EngineJobState.RUNNING, started
            self._jobs[engine_job_id] = job
        self._advance()
        return self._view(self._jobs[engine_job_id])

    def lose(self, engine_job_id: str) -> None:
        """Forget a job, as an engine that lost its state would (for reconciliation tests and demos)."""
        self._jobs.pop(engine_job_id, None)

    def request_of(self, engine_job_id: str) -> JobRequest | None:
        """The request behind a job (what the engine was asked to run)."""
        job = self._jobs.get(engine_job_id)
        return None if job is None else replace(job.request)


__all__ = ["Runtime", "SimulatedEngine", "default_runtime"]
