"""Compute federation, the feed metering reads: what ran, where, from when to when.

Typed run records in run-id order, so that the reader keeps the last id it saw as its watermark and
asks only for newer runs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from zhisuan.core.ids import CenterId, JobId, OrgId, PoolId
from zhisuan.store.models.compute import CenterRow, JobRow, JobRunRow, PoolRow
from zhisuan.store.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One ended attempt of a job on a pool: the facts a usage record needs.

    ``start``/``end`` are the engine-reported times (aware UTC); ``cards`` the job's cards;
    ``operator_org_id`` the center's operator (art. 2 self-use test); ``price_fen`` the pool's list
    price per card-hour now (metering's rate card is the authority on prices over time).
    """

    run_id: int
    job_id: JobId
    attempt: int
    org_id: OrgId
    center_id: CenterId
    operator_org_id: OrgId
    pool_id: PoolId
    accelerator: str
    cards: int
    engine: str
    engine_job_id: str
    start: dt.datetime
    end: dt.datetime
    outcome: str
    exit_code: int | None
    price_fen: int

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())


def first_open_run(uow: UnitOfWork, *, after_id: int = 0) -> int | None:
    """The lowest run id above ``after_id`` still running (None: none): every run below it has ended.

    A reader keeps its position below this run, since runs end out of id order.
    """
    return uow.session.execute(
        select(func.min(JobRunRow.id)).where(JobRunRow.id > after_id, JobRunRow.ended_at.is_(None))
    ).scalar()


def finished_runs(uow: UnitOfWork, *, after_id: int = 0, limit: int = 1000) -> list[RunRecord]:
    """Ended attempts (completed, failed, cancelled or lost after starting) with ``run_id > after_id``.

    In run-id order, so a reader keeps the last id it saw as its watermark. Idempotency key for a
    usage record: ``(engine, engine_job_id)``.
    """
    q = (
        select(JobRunRow, JobRow, PoolRow, CenterRow)
        .join(JobRow, JobRow.id == JobRunRow.job_id)
        .join(PoolRow, PoolRow.id == JobRunRow.pool_id)
        .join(CenterRow, CenterRow.id == PoolRow.center_id)
        .where(
            JobRunRow.id > after_id,
            JobRunRow.started_at.is_not(None),
            JobRunRow.ended_at.is_not(None),
        )
        .order_by(JobRunRow.id)
        .limit(limit)
    )
    out = []
    for run, job, pool, center in uow.session.execute(q).all():
        assert run.started_at is not None
        assert run.ended_at is not None
        out.append(
            RunRecord(
                run_id=run.id,
                job_id=JobId(job.id),
                attempt=run.attempt,
                org_id=OrgId(job.org_id),
                center_id=CenterId(center.id),
                operator_org_id=OrgId(center.operator_org_id),
                pool_id=PoolId(pool.id),
                accelerator=pool.accelerator,
                cards=run.cards,
                engine=run.engine,
                engine_job_id=run.engine_job_id or f"run-{run.id}",
                start=run.started_at,
                end=run.ended_at,
                outcome=run.outcome or "",
                exit_code=run.exit_code,
                price_fen=pool.price_fen,
            )
        )
    return out


__all__ = [
    "RunRecord",
    "finished_runs",
    "first_open_run",
]
