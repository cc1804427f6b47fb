"""The dispatcher and reconciler: placed jobs go to their pools' engines; engine state comes back.

One :meth:`Worker.step` does, in order: check each center's engine (an unreachable one marks the
center's pools unavailable, so placement avoids them, and a reachable one brings back the pools it had
marked); place queued jobs (late binding, ``schedule_once``); dispatch the placed jobs it claims; poll every
job on an engine and record starts, ends, cancellations and losses; stop the engine jobs of jobs users
cancelled. :meth:`Worker.reconcile` runs once at start-up: it re-claims placed jobs at once (a worker
may have died between an engine's submit and the database write) and submits them again — submission
is idempotent (the engine job carries the zhisuan job's name), so the engine job that already exists
is adopted instead of a second one being started.

Every database read and write goes through :mod:`zhisuan.compute.dispatch` (and the scheduling
step), each in its own unit of work committed right after the engine call it records, so a crash
loses at most the knowledge of one call, which the next step (or ``reconcile``) recovers from the
engine. Engines are built from the settings dispatch hands over (a ticket's or a pool's
``engine_config``), never from the center and pool rows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge, Histogram

from zhisuan.compute import dispatch as dispatching
from zhisuan.compute.dispatch import DispatchTicket, EnginePool
from zhisuan.compute.engines import (
    Capacity,
    Engine,
    EngineJobState,
    EngineSet,
    EngineUnavailableError,
    JobRequest,
    JobStatus,
    SimulatedEngine,
    Submission,
)
from zhisuan.compute.model import JobState
from zhisuan.compute.placement import VoucherRule
from zhisuan.compute.scheduling import PriorityRule, schedule_once
from zhisuan.compute.services import list_centers
from zhisuan.core.access import Action, Kind, Principal, Resource, can
from zhisuan.core.clock import Clock
from zhisuan.core.errors import AuthenticationError, ConflictError, ZhisuanError
from zhisuan.store.uow import UnitOfWork

log = logging.getLogger("zhisuan.worker")

#: Prefix of the reason the worker writes when it marks pools unavailable; only such pools are
#: brought back automatically (an operator's own reason is left alone).
ENGINE_DOWN = "engine unreachable: "

# Prometheus metrics (default registry; the web app serves them at /metrics).
QUEUE = Gauge(
    "zhisuan_queue_jobs", "Jobs in the platform queue, and placed jobs not yet on an engine", ["state"]
)
DISPATCH_LATENCY = Histogram(
    "zhisuan_dispatch_latency_seconds",
    "From a job's placement to its engine accepting it",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600),
)
ENGINE_ERRORS = Counter(
    "zhisuan_engine_errors_total",
    "Engine calls that failed, by center and kind (unavailable, refused)",
    ["center", "kind"],
)
ENGINE_UP = Gauge(
    "zhisuan_engine_up", "1 when the center's engine answered the worker's last call", ["center"]
)


@dataclass
class CenterHealth:
    """What the worker last saw of a center's engine."""

    center_key: str
    reachable: bool
    message: str
    checked_at: dt.datetime
    capacity: dict[str, Capacity] = field(default_factory=dict)


@dataclass
class StepReport:
    """What one step did (counts, and the centers whose engine went down or came back)."""

    placed: int = 0
    dispatched: int = 0
    adopted: int = 0
    refused: int = 0
    started: int = 0
    finished: int = 0
    lost: int = 0
    cancelled: int = 0
    down: list[str] = field(default_factory=list)
    up: list[str] = field(default_factory=list)

    def busy(self) -> bool:
        return any(
            (
                self.placed,
                self.dispatched,
                self.adopted,
                self.refused,
                self.started,
                self.finished,
                self.lost,
                self.cancelled,
                self.down,
                self.up,
            )
        )

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class Worker:
    """Dispatch placed jobs and keep the database in step with the engines."""

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        clock: Clock,
        *,
        vouchers: VoucherRule,
        priority: PriorityRule | None = None,
        name: str | None = None,
        engines: EngineSet | None = None,
        schedule: bool = True,
        lease_s: int = 60,
        health_every_s: float = 10.0,
        after_submit: Callable[[Submission], None] | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self.name = name or f"{socket.gethostname()}:{threading.get_native_id()}"
        self.engines = engines or EngineSet(clock)
        self.schedule = schedule
        #: art. 2 as placement estimates it (the platform's rule, from the packs in force)
        self.vouchers = vouchers
        #: art. 8's priority weights of key enterprises (the platform's rule; None: nobody has priority)
        self.priority = priority
        self.lease_s = lease_s
        self.health_every_s = health_every_s
        #: fault injection for tests: called right after an engine accepted a job, before the DB write
        self.after_submit = after_submit
        self.health: dict[str, CenterHealth] = {}
        self._down: set[str] = set()
        self._running: set[tuple[int, int]] = set()  # (job, attempt) already recorded as running

    # ------------------------------------------------------------------ helpers
    def _pools(self) -> dict[int, EnginePool]:
        with self._uow() as uow:
            return {int(p.pool_id): p for p in dispatching.engine_pools(uow)}

    @staticmethod
    def _request(t: DispatchTicket, not_before: dt.datetime | None) -> JobRequest:
        return JobRequest(
            job_id=t.job_id,
            accelerator=t.accelerator,
            cards=t.cards,
            command=t.command,
            nodes=t.nodes,
            attempt=t.attempt,
            env={"ZHISUAN_SIM_SECONDS": str(t.expected_runtime_s)} if t.engine == "simulated" else {},
            not_before=not_before,
        )

    def _started_at(self, job_id: int) -> dt.datetime | None:
        with self._uow() as uow:
            return dispatching.started_at(uow, job_id)

    def _job_times(self, job_ids: list[int]) -> dict[int, tuple[dt.datetime, dt.datetime | None]]:
        """When the jobs were submitted to the platform and placed. Engine jobs of the same name
        submitted before then belong to something else (a restored backup) and are never adopted."""
        if not job_ids:
            return {}
        with self._uow() as uow:
            return dispatching.job_times(uow, job_ids)

    def _engine(self, t: DispatchTicket) -> Engine:
        """The engine a ticket's settings describe (the one computed when the ticket was made)."""
        return self.engines.for_pool(t.pool_id, t.engine_config)

    @staticmethod
    def _of_center(pools: Mapping[int, EnginePool], center_key: str) -> list[EnginePool]:
        return [p for p in pools.values() if p.center_key == center_key]

    def _mark_down(self, center_key: str, pools: Sequence[EnginePool], why: str, report: StepReport) -> None:
        now = self._clock.now()
        self.health[center_key] = CenterHealth(center_key, False, why, now)
        ENGINE_ERRORS.labels(center_key, "unavailable").inc()
        ENGINE_UP.labels(center_key).set(0)
        if center_key in self._down:
            return
        self._down.add(center_key)
        report.down.append(center_key)
        log.warning("engine of %s unreachable: %s", center_key, why)
        with self._uow() as uow:
            for pool in pools:
                if pool.available or (pool.unavailable_reason or "").startswith(ENGINE_DOWN):
                    dispatching.mark_pool(uow, pool.pool_id, False, ENGINE_DOWN + why[:500], now)
            uow.commit()

    def _mark_up(
        self,
        center_key: str,
        pools: Sequence[EnginePool],
        capacity: dict[str, Capacity],
        report: StepReport,
    ) -> None:
        now = self._clock.now()
        self.health[center_key] = CenterHealth(center_key, True, "ok", now, capacity)
        ENGINE_UP.labels(center_key).set(1)
        back = [p for p in pools if not p.available and (p.unavailable_reason or "").startswith(ENGINE_DOWN)]
        self._down.discard(center_key)
        if not back:
            return
        report.up.append(center_key)
        with self._uow() as uow:
            for pool in back:
                dispatching.mark_pool(uow, pool.pool_id, True, None, now)
            uow.commit()

    # ------------------------------------------------------------------ the parts of a step
    def check_engines(
        self,
        pools: Mapping[int, EnginePool],
        report: StepReport,
        *,
        force: bool = False,
    ) -> None:
        """Ask every center's engine for its capacity; mark centers down or back up."""
        now = self._clock.now()
        centers = sorted({p.center_key for p in pools.values()})
        for key in centers:
            seen = self.health.get(key)
            if (
                not force
                and seen is not None
                and (now - seen.checked_at).total_seconds() < self.health_every_s
            ):
                continue
            members = self._of_center(pools, key)
            capacity: dict[str, Capacity] = {}
            try:
                for pool in members:
                    capacity.update(self.engines.for_pool(pool.pool_id, pool.engine_config).capacity())
            except EngineUnavailableError as exc:
                self._mark_down(key, members, exc.message, report)
                continue
            except ZhisuanError as exc:  # misconfigured: the engine cannot serve this center's pools
                self._mark_down(key, members, f"engine misconfigured: {exc.message}", report)
                continue
            self._mark_up(key, members, capacity, report)

    def dispatch(
        self,
        pools: Mapping[int, EnginePool],
        report: StepReport,
        *,
        lease_s: int | None = None,
    ) -> None:
        """Claim placed jobs and start them on their pools' engines (or adopt the job already there)."""
        now = self._clock.now()
        with self._uow() as uow:
            tickets = dispatching.claim_placed(
                uow, self.name, now, lease_s=self.lease_s if lease_s is None else lease_s
            )
            uow.commit()
        times = self._job_times([int(t.job_id) for t in tickets])
        for t in tickets:
            if int(t.pool_id) not in pools:
                continue
            if t.center_key in self._down:
                continue  # its jobs wait; the claim lapses and the job is taken up again when it is back
            try:
                request = self._request(t, times[int(t.job_id)][0] if int(t.job_id) in times else None)
                submission = self._engine(t).submit(request)
            except EngineUnavailableError as exc:
                self._mark_down(t.center_key, self._of_center(pools, t.center_key), exc.message, report)
                continue
            except ZhisuanError as exc:
                ENGINE_ERRORS.labels(t.center_key, "refused").inc()
                with self._uow() as uow:
                    dispatching.record_refused(uow, t.job_id, exc.message, self._clock.now())
                    uow.commit()
                report.refused += 1
                continue
            if self.after_submit is not None:
                self.after_submit(submission)
            with self._uow() as uow:
                try:
                    dispatching.record_dispatch(
                        uow, t.job_id, t.attempt, submission.engine_job_id, self._clock.now()
                    )
                    uow.commit()
                except ConflictError as exc:  # cancelled by its user meanwhile: stop what we started
                    log.info(
                        "job %s changed while dispatching (%s); cancelling %s",
                        t.job_id,
                        exc.message,
                        submission.engine_job_id,
                    )
                    self._engine(t).cancel(submission.engine_job_id)
                    continue
            placed_at = times.get(int(t.job_id), (None, None))[1]
            if placed_at is not None:
                DISPATCH_LATENCY.observe(max(0.0, (self._clock.now() - placed_at).total_seconds()))
            if submission.existing:
                report.adopted += 1
            else:
                report.dispatched += 1

    def _apply(self, ticket: DispatchTicket, status: JobStatus | None, report: StepReport) -> None:
        now = self._clock.now()
        with self._uow() as uow:
            if status is None:
                dispatching.record_lost(
                    uow, ticket.job_id, f"{ticket.engine} has no job {ticket.engine_job_id}", now
                )
                report.lost += 1
            elif status.state == EngineJobState.RUNNING and status.start is not None:
                before = dispatching.job_state(uow, ticket.job_id)
                dispatching.record_running(uow, ticket.job_id, status.start, now)
                report.started += before is not JobState.RUNNING
            elif status.state in (EngineJobState.SUCCEEDED, EngineJobState.FAILED):
                end = status.end or now
                dispatching.record_finished(
                    uow,
                    ticket.job_id,
                    succeeded=status.state == EngineJobState.SUCCEEDED,
                    exit_code=status.exit_code,
                    started_at=status.start or end,
                    ended_at=end,
                    now=now,
                    message=status.message[:500] if status.state == EngineJobState.FAILED else "",
                )
                report.finished += 1
            elif status.state == EngineJobState.CANCELLED:
                if status.start is not None:
                    dispatching.record_running(uow, ticket.job_id, status.start, now)
                dispatching.record_cancelled(uow, ticket.job_id, status.end, now)
                report.cancelled += 1
            elif status.state == EngineJobState.LOST:
                dispatching.record_lost(uow, ticket.job_id, status.message or "lost by the engine", now)
                report.lost += 1
            else:
                return
            uow.commit()

    def poll(self, pools: Mapping[int, EnginePool], report: StepReport) -> None:
        """Bring every job on an engine up to date with what the engine says."""
        with self._uow() as uow:
            active = dispatching.active_jobs(uow)
        for t in active:
            if int(t.pool_id) not in pools or t.engine_job_id is None:
                continue
            if t.center_key in self._down:
                continue
            engine = self._engine(t)
            try:
                status = engine.status(t.engine_job_id)
                if status is None and isinstance(engine, SimulatedEngine):
                    # An in-process engine forgets its jobs when the process ends: the database is
                    # the record, so the job carries on from its recorded start.
                    status = engine.resume(
                        t.engine_job_id,
                        self._request(t, None),
                        started=self._started_at(int(t.job_id)),
                        seconds=t.expected_runtime_s,
                    )
            except EngineUnavailableError as exc:
                self._mark_down(t.center_key, self._of_center(pools, t.center_key), exc.message, report)
                continue
            except ZhisuanError as exc:
                log.warning("status of %s on %s failed: %s", t.engine_job_id, t.center_key, exc.message)
                continue
            if status is not None and not status.state.finished and status.state != EngineJobState.RUNNING:
                continue
            if status is not None and status.state == EngineJobState.RUNNING:
                if (t.job_id, t.attempt) in self._running or status.start is None:
                    continue  # recorded already, or the engine does not know the start yet
                self._running.add((t.job_id, t.attempt))
            try:
                self._apply(t, status, report)
            except ConflictError as exc:
                log.info("job %s: %s", t.job_id, exc.message)

    def cancel_pending(self, pools: Mapping[int, EnginePool], report: StepReport) -> None:
        """Stop the engine jobs of jobs their users cancelled; record the end once the engine has it."""
        with self._uow() as uow:
            pending = dispatching.pending_engine_cancels(uow)
        for t in pending:
            if int(t.pool_id) not in pools:
                continue
            if t.center_key in self._down:
                continue
            engine = self._engine(t)
            try:
                status = engine.status(t.engine_job_id) if t.engine_job_id else None
                if status is not None and not status.state.finished:
                    engine.cancel(t.engine_job_id or "")
                    continue  # the end time is recorded once the engine reports it
            except EngineUnavailableError as exc:
                self._mark_down(t.center_key, self._of_center(pools, t.center_key), exc.message, report)
                continue
            with self._uow() as uow:
                ended = status.end if status is not None and status.start is not None else None
                dispatching.record_engine_cancelled(uow, t.job_id, ended, self._clock.now())
                uow.commit()
            report.cancelled += 1

    # ------------------------------------------------------------------ public
    def step(self) -> StepReport:
        """One round: engine health (so placement sees it), placing, dispatching, polling, cancelling."""
        report = StepReport()
        self.check_engines(self._pools(), report)
        if self.schedule:
            with self._uow() as uow:
                report.placed = len(
                    schedule_once(
                        uow,
                        self._clock.now(),
                        actor="worker",
                        vouchers=self.vouchers,
                        priority=self.priority,
                    ).placed
                )
                uow.commit()
        pools = self._pools()
        self.dispatch(pools, report)
        self.poll(pools, report)
        self.cancel_pending(pools, report)
        self._measure_queue()
        return report

    def _measure_queue(self) -> None:
        with self._uow() as uow:
            queued, placed = dispatching.queue_depth(uow)
        QUEUE.labels("queued").set(queued)
        QUEUE.labels("placed").set(placed)

    def reconcile(self) -> StepReport:
        """After a restart: check every engine now, adopt jobs a dead worker submitted, poll the rest."""
        report = StepReport()
        pools = self._pools()
        self.check_engines(pools, report, force=True)
        pools = self._pools()
        self.dispatch(pools, report, lease_s=0)
        self.poll(pools, report)
        self.cancel_pending(pools, report)
        return report

    def run(
        self,
        interval_s: float = 2.0,
        *,
        stop: threading.Event | None = None,
        on_step: Callable[[StepReport], None] | None = None,
    ) -> None:
        """Reconcile, then step every ``interval_s`` until ``stop`` is set.

        A failing step (database gone for a moment, a bug) is logged and the loop goes on; the
        reconciliation is retried until it has succeeded once.
        """
        global _current
        _current = self
        stop = stop or threading.Event()
        reconciled = False
        while True:
            try:
                report = self.step() if reconciled else self.reconcile()
                reconciled = True
            except Exception:
                log.exception("worker %s: step failed; trying again in %s s", self.name, interval_s)
            else:
                if on_step is not None:
                    on_step(report)
            if stop.wait(interval_s):
                return


#: The worker running in this process (``zhisuan worker`` or inside ``zhisuan serve``), if any.
_current: Worker | None = None


def current_worker() -> Worker | None:
    """The worker of this process, for health pages (None when no worker runs here)."""
    return _current


def health_rows(health: Iterable[CenterHealth]) -> list[dict[str, object]]:
    """Per-center engine health for pages and the API."""
    return [
        {
            "center": h.center_key,
            "reachable": h.reachable,
            "message": h.message,
            "checked_at": h.checked_at.isoformat(),
            "capacity": {m: {"total": c.total, "free": c.free} for m, c in h.capacity.items()},
        }
        for h in sorted(health, key=lambda h: h.center_key)
    ]


def engine_status(uow: UnitOfWork, who: Principal, worker: Worker | None) -> list[dict[str, object]]:
    """Per center the caller may watch: its engines, pools out of service and what the worker last saw.

    Pool availability is in the database (the worker writes it when an engine goes down or comes
    back); the live check (reachable, message, free cards) is the in-process worker's, when one runs.
    """
    if not who.authenticated:
        raise AuthenticationError("log in or send a bearer token")
    live = {h["center"]: h for h in health_rows(worker.health.values())} if worker is not None else {}
    out: list[dict[str, object]] = []
    for center in list_centers(uow):
        engine = Resource(Kind.ENGINE, operator_org_id=center.operator_org_id, city_code=center.city_code)
        if not can(who, Action.READ, engine):
            continue
        out.append(
            {
                "center": center.key,
                "name": center.name,
                "name_en": center.name_en,
                "operator": center.operator_name,
                "city_code": center.city_code,
                "engines": sorted({p.engine for p in center.pools}),
                "pools": len(center.pools),
                "unavailable": [
                    {"pool": p.key, "reason": p.unavailable_reason} for p in center.pools if not p.available
                ],
                "live": live.get(center.key),
            }
        )
    return out


async def dispatch_loop(worker: Worker, interval_s: float = 2.0) -> None:
    """The worker inside ``zhisuan serve`` (a background task of the web app; cancelled on shutdown)."""
    global _current
    _current = worker
    reconciled = False
    try:
        while True:
            try:
                await asyncio.to_thread(worker.step if reconciled else worker.reconcile)
                reconciled = True
            except Exception:
                log.exception("worker %s: step failed; trying again in %s s", worker.name, interval_s)
            await asyncio.sleep(interval_s)
    finally:
        if _current is worker:
            _current = None


__all__ = [
    "ENGINE_DOWN",
    "CenterHealth",
    "StepReport",
    "Worker",
    "current_worker",
    "dispatch_loop",
    "engine_status",
    "health_rows",
]
