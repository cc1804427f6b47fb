"""Compute federation, the dispatcher's interface: the worker's only way into the database."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select

from zhisuan.compute._context import OCCUPYING, _Context
from zhisuan.compute._rows import _event, _job_row, _open_run, _transition
from zhisuan.compute.model import JobState, Scaling
from zhisuan.core.errors import ConflictError
from zhisuan.core.ids import CenterId, JobId, PoolId
from zhisuan.store.models.compute import JobRow, JobRunRow, PoolRow
from zhisuan.store.uow import UnitOfWork

#
#   tickets = claim_placed(uow, "worker-1", now)            # placed jobs not yet on an engine
#   for t in tickets:  engine.submit(...)  → record_dispatch(uow, t.job_id, t.attempt, engine_id, now)
#                      refused            → record_refused(uow, t.job_id, why, now)
#                      engine unreachable → set_center_available(uow, t.center_key, False, why, now)
#   for a in active_jobs(uow):  poll the engine with a.engine_job_id, then
#       started  → record_running(uow, a.job_id, start, now)
#       ended    → record_finished(uow, a.job_id, succeeded=…, exit_code=…, started_at=…, ended_at=…, now=now)
#       cancelled by the engine → record_cancelled(uow, a.job_id, ended_at, now)
#       unknown to the engine   → record_lost(uow, a.job_id, why, now)   (requeued if retries are left)
#   for c in pending_engine_cancels(uow):  engine.cancel(c.engine_job_id) → record_engine_cancelled(...)
#
# Each call changes the rows inside the caller's unit of work; the caller commits.


@dataclass(frozen=True, slots=True)
class DispatchTicket:
    """A job bound to a pool, with what the engine needs to run it."""

    job_id: JobId
    attempt: int
    pool_id: PoolId
    pool_key: str
    center_id: CenterId
    center_key: str
    accelerator: str
    cards: int
    nodes: int
    command: str
    name: str
    engine: str
    #: the center's engine settings overlaid with the pool's (``kind`` = the pool's engine)
    engine_config: Mapping[str, Any]
    #: expected run time on this pool's accelerator (scaled from the estimate), seconds
    expected_runtime_s: int
    engine_job_id: str | None = None


def _ticket(ctx: _Context, row: JobRow, attempt: int) -> DispatchTicket:
    pool = ctx.pool_by_id[PoolId(row.pool_id or 0)]
    center = ctx.center_by_id[pool.center_id]
    cpn = pool.cards_per_node
    nodes = 1 if row.cards <= cpn else math.ceil(row.cards / cpn)
    config = {**center.engine_config, **pool.engine_config, "kind": pool.engine}
    return DispatchTicket(
        job_id=JobId(row.id),
        attempt=attempt,
        pool_id=pool.id,
        pool_key=pool.key,
        center_id=center.id,
        center_key=center.key,
        accelerator=pool.accelerator,
        cards=row.cards,
        nodes=nodes,
        command=row.command,
        name=row.name,
        engine=pool.engine,
        engine_config=config,
        expected_runtime_s=Scaling().runtime(row.runtime_s, row.reference, pool.accelerator),
        engine_job_id=row.engine_job_id,
    )


def claim_placed(
    uow: UnitOfWork, worker: str, now: dt.datetime, *, limit: int = 50, lease_s: int = 300
) -> list[DispatchTicket]:
    """Claim placed jobs that are not on an engine yet (nor claimed by a live worker in ``lease_s``).

    Rows are locked ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers never claim one job;
    commit soon after to release the locks (the claim itself lasts ``lease_s``).
    """
    stale = now - dt.timedelta(seconds=lease_s)
    rows = list(
        uow.session.execute(
            select(JobRow)
            .where(
                JobRow.state == JobState.PLACED.value,
                JobRow.engine_job_id.is_(None),
                or_(JobRow.claimed_at.is_(None), JobRow.claimed_at < stale),
            )
            .order_by(JobRow.placed_at, JobRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if not rows:
        return []
    ctx = _Context.load(uow)
    out = []
    for row in rows:
        row.claimed_by, row.claimed_at = worker, now
        out.append(_ticket(ctx, row, row.attempts + 1))
    uow.session.flush()
    return out


def record_dispatch(
    uow: UnitOfWork, job_id: int, attempt: int, engine_job_id: str, now: dt.datetime, *, actor: str = "worker"
) -> None:
    """The engine accepted the job as ``engine_job_id``: remember it and open the attempt's run."""
    row = _job_row(uow, job_id)
    if row.state != JobState.PLACED.value or row.pool_id is None:
        raise ConflictError(
            f"job {row.id} is {row.state}, not placed; it cannot be dispatched", field="state"
        )
    if row.engine_job_id == engine_job_id:
        return  # already recorded (a retried call)
    pool = uow.session.get(PoolRow, row.pool_id)
    assert pool is not None
    row.engine_job_id = engine_job_id
    row.attempts = attempt
    row.claimed_by = row.claimed_at = None
    row.updated_at = now
    uow.session.add(
        JobRunRow(
            job_id=row.id,
            attempt=attempt,
            pool_id=pool.id,
            cards=row.cards,
            engine=pool.engine_kind,
            engine_job_id=engine_job_id,
            dispatched_at=now,
        )
    )
    _event(
        uow, row, now, row.state, row.state, actor, f"dispatched to {pool.key} as {engine_job_id}", pool.id
    )
    uow.session.flush()


def record_refused(
    uow: UnitOfWork, job_id: int, reason: str, now: dt.datetime, *, actor: str = "worker"
) -> None:
    """The engine refused the job before it started: back to the platform queue (``placed → queued``)."""
    row = _job_row(uow, job_id)
    _transition(uow, row, JobState.QUEUED, now, actor, f"engine refused: {reason}")
    row.pool_id = None
    row.engine_job_id = None
    row.claimed_by = row.claimed_at = None
    row.placed_at = row.expected_end = None
    row.hold_reason = f"engine refused on the last pool: {reason}"
    row.hold_kind = "engine"
    row.held_since = now
    uow.session.flush()


def record_running(
    uow: UnitOfWork, job_id: int, started_at: dt.datetime, now: dt.datetime, *, actor: str = "worker"
) -> None:
    """The engine started the job at ``started_at`` (engine-reported): ``placed → running``."""
    row = _job_row(uow, job_id)
    if row.state == JobState.RUNNING.value:
        return
    _transition(uow, row, JobState.RUNNING, now, actor, f"started at {started_at.isoformat()}")
    row.started_at = started_at
    if row.placed_at is not None and row.expected_end is not None:
        row.expected_end = started_at + (row.expected_end - row.placed_at)
    run = _open_run(uow, row)
    if run is not None:
        run.started_at = started_at
    uow.session.flush()


def record_finished(
    uow: UnitOfWork,
    job_id: int,
    *,
    succeeded: bool,
    exit_code: int | None,
    started_at: dt.datetime,
    ended_at: dt.datetime,
    now: dt.datetime,
    message: str = "",
    actor: str = "worker",
) -> JobState:
    """The engine says the job ended (start and end as the engine reports them).

    ``running → completed | failed``; a placed job that started and ended between two polls passes
    through running first. A failed job with retries left goes back to the queue (``failed → queued``).
    Returns the job's state afterwards. Calling it again for the same end changes nothing.
    """
    row = _job_row(uow, job_id)
    if row.state in (JobState.COMPLETED.value, JobState.CANCELLED.value):
        return JobState(row.state)
    if row.state == JobState.FAILED.value:
        return JobState.FAILED
    if row.state == JobState.PLACED.value:
        record_running(uow, job_id, started_at, now, actor=actor)
    new = JobState.COMPLETED if succeeded else JobState.FAILED
    note = f"exit code {exit_code}" if exit_code is not None else ""
    if message:
        note = f"{note}; {message}" if note else message
    _transition(uow, row, new, now, actor, note)
    row.started_at = started_at
    row.ended_at = ended_at
    row.exit_code = exit_code
    run = _open_run(uow, row)
    if run is not None:
        run.started_at, run.ended_at = started_at, ended_at
        run.outcome, run.exit_code = new.value, exit_code
    if new is JobState.FAILED and row.retries - max(0, row.attempts - 1) > 0:
        _requeue(uow, row, now, actor, f"retry {row.attempts + 1} of {row.retries + 1}")
    uow.session.flush()
    return JobState(row.state)


def _requeue(uow: UnitOfWork, row: JobRow, now: dt.datetime, actor: str, note: str) -> None:
    _transition(uow, row, JobState.QUEUED, now, actor, note)
    row.pool_id = None
    row.engine_job_id = None
    row.claimed_by = row.claimed_at = None
    row.placed_at = row.expected_end = row.started_at = row.ended_at = None
    row.hold_reason = row.hold_kind = None
    row.held_since = None


def record_lost(
    uow: UnitOfWork, job_id: int, reason: str, now: dt.datetime, *, actor: str = "worker"
) -> JobState:
    """The engine has no record of the job any more (node failure, engine reset).

    A placed job goes back to the queue; a running one fails (its run ends now, outcome ``lost``) and
    is requeued if it has retries left. Returns the job's state afterwards.
    """
    row = _job_row(uow, job_id)
    run = _open_run(uow, row)
    if run is not None and run.ended_at is None:
        run.ended_at = now if run.started_at is not None else None
        run.outcome = "lost"
    if row.state == JobState.PLACED.value:
        _requeue(uow, row, now, actor, f"lost by the engine before it started: {reason}")
    elif row.state == JobState.RUNNING.value:
        _transition(uow, row, JobState.FAILED, now, actor, f"lost by the engine: {reason}")
        row.ended_at = now
        if row.retries - max(0, row.attempts - 1) > 0:
            _requeue(uow, row, now, actor, f"retry {row.attempts + 1} of {row.retries + 1}")
    uow.session.flush()
    return JobState(row.state)


def record_cancelled(
    uow: UnitOfWork, job_id: int, ended_at: dt.datetime | None, now: dt.datetime, *, actor: str = "worker"
) -> None:
    """The engine cancelled the job on its own (an operator's scancel, a preemption without requeue)."""
    row = _job_row(uow, job_id)
    if row.state == JobState.CANCELLED.value:
        return
    _transition(uow, row, JobState.CANCELLED, now, actor, "cancelled at the engine")
    row.ended_at = ended_at or now
    run = _open_run(uow, row)
    if run is not None:
        run.ended_at = (ended_at or now) if run.started_at is not None else None
        run.outcome = "cancelled"
    uow.session.flush()


def active_jobs(uow: UnitOfWork) -> list[DispatchTicket]:
    """Jobs on an engine that the worker should poll: placed-and-dispatched, and running."""
    ctx = _Context.load(uow)
    rows = uow.session.execute(
        select(JobRow)
        .where(JobRow.state.in_(OCCUPYING), JobRow.engine_job_id.is_not(None))
        .order_by(JobRow.id)
    ).scalars()
    return [_ticket(ctx, r, r.attempts) for r in rows]


def pending_engine_cancels(uow: UnitOfWork) -> list[DispatchTicket]:
    """Jobs cancelled by their users that still have an engine job to stop."""
    ctx = _Context.load(uow)
    rows = uow.session.execute(
        select(JobRow).where(JobRow.engine_cancel_pending.is_(True)).order_by(JobRow.id)
    ).scalars()
    return [_ticket(ctx, r, r.attempts) for r in rows if r.pool_id is not None]


def record_engine_cancelled(
    uow: UnitOfWork, job_id: int, ended_at: dt.datetime | None, now: dt.datetime
) -> None:
    """The engine stopped a user-cancelled job (``ended_at`` as the engine reports it, if it ran)."""
    row = _job_row(uow, job_id)
    row.engine_cancel_pending = False
    run = _open_run(uow, row)
    if run is not None and ended_at is not None and run.started_at is not None:
        run.ended_at = ended_at
        row.ended_at = ended_at
    row.updated_at = now
    uow.session.flush()


__all__ = [
    "DispatchTicket",
    "active_jobs",
    "claim_placed",
    "pending_engine_cancels",
    "record_cancelled",
    "record_dispatch",
    "record_engine_cancelled",
    "record_finished",
    "record_lost",
    "record_refused",
    "record_running",
]
