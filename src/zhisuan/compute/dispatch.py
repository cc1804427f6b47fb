"""Compute federation, the dispatcher's interface: the worker's only way into the database.

The engine settings of a pool are computed here, once (:func:`pool_engine_config`, with this
installation's id in them so that engine job names carry it); tickets and :class:`EnginePool` carry
them to the worker, which builds its engines from nothing else::

    pools = engine_pools(uow)                                # every pool with its engine settings
    tickets = claim_placed(uow, "worker-1", now)             # placed jobs not yet on an engine
    for t in tickets:  engine(t.engine_config).submit(…)  → record_dispatch(uow, t.job_id, t.attempt, id, now)
                       refused                            → record_refused(uow, t.job_id, why, now)
                       engine unreachable                 → mark_pool(uow, pool_id, False, why, now)
    for a in active_jobs(uow):  poll the engine with a.engine_job_id, then
        started  → record_running(uow, a.job_id, start, now)
        ended    → record_finished(uow, a.job_id, succeeded=…, exit_code=…, started_at=…, ended_at=…, now=now)
        cancelled by the engine → record_cancelled(uow, a.job_id, ended_at, now)
        unknown to the engine   → record_lost(uow, a.job_id, why, now)   (requeued if retries are left)
    for c in pending_engine_cancels(uow):  engine.cancel(c.engine_job_id) → record_engine_cancelled(…)

Each call changes the rows inside the caller's unit of work; the caller commits.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select

from zhisuan.compute._context import OCCUPYING, _Context
from zhisuan.compute._rows import _event, _job_row, _open_run, _transition
from zhisuan.compute.model import JobState, Scaling
from zhisuan.compute.services import list_centers, set_pool_available
from zhisuan.compute.views import CenterView, PoolView
from zhisuan.core.errors import ConflictError, ZhisuanError
from zhisuan.core.ids import CenterId, JobId, PoolId
from zhisuan.store.models.compute import InstallationRow, JobRow, JobRunRow, PoolRow
from zhisuan.store.uow import UnitOfWork


def installation(uow: UnitOfWork) -> str:
    """This database's installation id, which every engine job name of it carries."""
    token: str | None = uow.session.scalar(select(InstallationRow.token))
    if token is None:
        raise ZhisuanError("the database has no installation id; run `zhisuan db upgrade`")
    return token


def pool_engine_config(
    center_config: Mapping[str, Any],
    pool_config: Mapping[str, Any],
    kind: str,
    accelerator: str,
    cards: int,
    installation: str = "",
) -> dict[str, Any]:
    """The engine settings for one pool: the center's, overlaid by the pool's, for the pool's model.

    >>> center, pool = {"slurm_conf": "/s.conf"}, {"gres_type": "a100"}
    >>> cfg = pool_engine_config(center, pool, "slurm", "a100", 16, "k3x9")
    >>> cfg == {"slurm_conf": "/s.conf", "gres_type": "a100", "kind": "slurm", "accelerator": "a100",
    ...         "installation": "k3x9"}
    True
    """
    config: dict[str, Any] = {**center_config, **pool_config, "kind": kind}
    accs = config.get("accelerators")
    if not (isinstance(accs, Mapping) and accelerator in accs):
        config.pop("accelerators", None)
        config["accelerator"] = accelerator
    if kind == "simulated":
        if "accelerators" in config:
            spec = dict(config["accelerators"][accelerator] or {})
            spec.setdefault("cards", cards)
            config["accelerators"] = {accelerator: spec}
        else:
            config.setdefault("cards", cards)
            config["accelerators"] = {accelerator: {"cards": config.pop("cards")}}
            config.pop("accelerator", None)
    if installation:
        config["installation"] = installation
    return config


def _engine_config(center: CenterView, pool: PoolView, installation: str) -> dict[str, Any]:
    return pool_engine_config(
        center.engine_config, pool.engine_config, pool.engine, pool.accelerator, pool.cards, installation
    )


@dataclass(frozen=True, slots=True)
class EnginePool:
    """A pool as the dispatcher sees it: its center, whether placement may use it, its engine settings."""

    pool_id: PoolId
    pool_key: str
    center_key: str
    accelerator: str
    cards: int
    engine: str
    engine_config: Mapping[str, Any]
    available: bool
    unavailable_reason: str | None


def engine_pools(uow: UnitOfWork, center: str | None = None) -> list[EnginePool]:
    """Every pool (or one center's) with the settings of the engine behind it."""
    token = installation(uow)
    return [
        EnginePool(
            pool_id=p.id,
            pool_key=p.key,
            center_key=c.key,
            accelerator=p.accelerator,
            cards=p.cards,
            engine=p.engine,
            engine_config=_engine_config(c, p, token),
            available=p.available,
            unavailable_reason=p.unavailable_reason,
        )
        for c in list_centers(uow)
        if center is None or c.key == center
        for p in c.pools
    ]


def mark_pool(uow: UnitOfWork, pool_id: int, available: bool, reason: str | None, now: dt.datetime) -> None:
    """Mark a pool (un)available because its engine went down or came back (recorded as the worker)."""
    set_pool_available(uow, pool_id, available, reason, now)


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
    #: what the engine is built from: :func:`pool_engine_config` of the center and pool, with the
    #: installation id (the worker reads no other settings)
    engine_config: Mapping[str, Any]
    #: expected run time on this pool's accelerator (scaled from the estimate), seconds
    expected_runtime_s: int
    engine_job_id: str | None = None


def _ticket(ctx: _Context, row: JobRow, attempt: int, installation: str) -> DispatchTicket:
    pool = ctx.pool_by_id[PoolId(row.pool_id or 0)]
    center = ctx.center_by_id[pool.center_id]
    cpn = pool.cards_per_node
    nodes = 1 if row.cards <= cpn else math.ceil(row.cards / cpn)
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
        engine_config=_engine_config(center, pool, installation),
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
    token = installation(uow)
    out = []
    for row in rows:
        row.claimed_by, row.claimed_at = worker, now
        out.append(_ticket(ctx, row, row.attempts + 1, token))
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
    token = installation(uow)
    return [_ticket(ctx, r, r.attempts, token) for r in rows]


def pending_engine_cancels(uow: UnitOfWork) -> list[DispatchTicket]:
    """Jobs cancelled by their users that still have an engine job to stop."""
    ctx = _Context.load(uow)
    rows = uow.session.execute(
        select(JobRow).where(JobRow.engine_cancel_pending.is_(True)).order_by(JobRow.id)
    ).scalars()
    token = installation(uow)
    return [_ticket(ctx, r, r.attempts, token) for r in rows if r.pool_id is not None]


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


def job_times(uow: UnitOfWork, job_ids: Iterable[int]) -> dict[int, tuple[dt.datetime, dt.datetime | None]]:
    """When the jobs were submitted to the platform and placed (an engine job of the same name
    submitted before then belongs to something else and is never adopted)."""
    ids = list(job_ids)
    if not ids:
        return {}
    rows = uow.session.execute(
        select(JobRow.id, JobRow.submitted_at, JobRow.placed_at).where(JobRow.id.in_(ids))
    )
    return {int(i): (sub, placed) for i, sub, placed in rows}


def started_at(uow: UnitOfWork, job_id: int) -> dt.datetime | None:
    """When the job started, as recorded (None before it started)."""
    return uow.session.scalar(select(JobRow.started_at).where(JobRow.id == job_id))


def job_state(uow: UnitOfWork, job_id: int) -> JobState | None:
    """The job's state now (None for an unknown job)."""
    state = uow.session.scalar(select(JobRow.state).where(JobRow.id == job_id))
    return JobState(state) if state is not None else None


def queue_depth(uow: UnitOfWork) -> tuple[int, int]:
    """Jobs in the platform queue, and placed jobs not yet on an engine."""
    queued = uow.session.scalar(select(func.count()).where(JobRow.state == JobState.QUEUED.value)) or 0
    placed = (
        uow.session.scalar(
            select(func.count()).where(JobRow.state == JobState.PLACED.value, JobRow.engine_job_id.is_(None))
        )
        or 0
    )
    return queued, placed


__all__ = [
    "DispatchTicket",
    "EnginePool",
    "active_jobs",
    "claim_placed",
    "engine_pools",
    "installation",
    "job_state",
    "job_times",
    "mark_pool",
    "pending_engine_cancels",
    "pool_engine_config",
    "queue_depth",
    "record_cancelled",
    "record_dispatch",
    "record_engine_cancelled",
    "record_finished",
    "record_lost",
    "record_refused",
    "record_running",
    "started_at",
]
