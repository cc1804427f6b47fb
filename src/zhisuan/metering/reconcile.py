"""Reconciliation: what the platform observed of each run against the usage reported, and disputes.

A difference beyond the tolerance opens a dispute; the usage of a job in open dispute is held out of
bills until the dispute is released (bill the engine's figures) or corrected (a correction came in).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from zhisuan.core.clock import Clock, Month
from zhisuan.core.errors import ConflictError, NotFoundError, ValidationError
from zhisuan.metering.model import DisputeState, ObservedRun, Tolerance, reconcile
from zhisuan.metering.usage import record_from_row
from zhisuan.store.models.compute import JobRunRow, PoolRow
from zhisuan.store.models.metering import UsageDisputeRow, UsageRecordRow
from zhisuan.store.uow import UnitOfWork


def observed_runs(uow: UnitOfWork, month: Month) -> list[ObservedRun]:
    """What the platform itself saw of each run touching ``month``: dispatch to completion."""
    q = (
        select(JobRunRow, PoolRow.center_id)
        .join(PoolRow, PoolRow.id == JobRunRow.pool_id)
        .where(
            JobRunRow.ended_at.is_not(None),
            JobRunRow.ended_at > month.start,
            JobRunRow.dispatched_at < month.end,
        )
        .order_by(JobRunRow.id)
    )
    out = []
    for run, center_id in uow.session.execute(q):
        assert run.ended_at is not None
        out.append(
            ObservedRun(
                run.engine,
                run.engine_job_id or f"run-{run.id}",
                center_id,
                run.pool_id,
                run.cards,
                run.dispatched_at.replace(microsecond=0),
                run.ended_at.replace(microsecond=0),
            )
        )
    return out


def reconcile_month(
    uow: UnitOfWork,
    month: Month,
    observed: Sequence[ObservedRun],
    clock: Clock,
    tolerance: Tolerance | None = None,
) -> list[dict[str, object]]:
    """Compare observed runs with reported usage of a month; open a dispute for each difference."""
    s = uow.session
    jobs = {(o.engine, o.engine_job_id) for o in observed}
    t = UsageRecordRow
    reported_rows = s.execute(select(t).where(t.usage_month == str(month))).scalars()
    reported = [record_from_row(r) for r in reported_rows]
    jobs |= {(r.engine, r.engine_job_id) for r in reported}
    found = [d for d in reconcile(observed, reported, tolerance or Tolerance()) if d.month == month]
    now = clock.now()
    out = []
    for d in found:
        row = s.execute(
            select(UsageDisputeRow).where(
                UsageDisputeRow.engine == d.engine,
                UsageDisputeRow.engine_job_id == d.engine_job_id,
                UsageDisputeRow.usage_month == str(d.month),
            )
        ).scalar()
        if row is None:
            row = UsageDisputeRow(
                engine=d.engine,
                engine_job_id=d.engine_job_id,
                center_id=d.center_id,
                usage_month=str(d.month),
                observed_card_seconds=d.observed_card_seconds,
                reported_card_seconds=d.reported_card_seconds,
                state=DisputeState.OPEN.value,
                opened_at=now,
                note="",
            )
            s.add(row)
        elif row.state == DisputeState.OPEN.value:
            row.observed_card_seconds = d.observed_card_seconds
            row.reported_card_seconds = d.reported_card_seconds
        s.flush()
        out.append(_dispute_dict(row))
    return out


def _dispute_dict(row: UsageDisputeRow) -> dict[str, object]:
    return {
        "id": row.id,
        "engine": row.engine,
        "engine_job_id": row.engine_job_id,
        "center_id": row.center_id,
        "month": row.usage_month,
        "observed_card_seconds": row.observed_card_seconds,
        "reported_card_seconds": row.reported_card_seconds,
        "difference": row.reported_card_seconds - row.observed_card_seconds,
        "state": row.state,
        "note": row.note,
    }


def list_disputes(uow: UnitOfWork, month: Month | None = None) -> list[dict[str, object]]:
    """Disputes in the order they were opened (of a usage month)."""
    q = select(UsageDisputeRow).order_by(UsageDisputeRow.id)
    if month is not None:
        q = q.where(UsageDisputeRow.usage_month == str(month))
    return [_dispute_dict(r) for r in uow.session.execute(q).scalars()]


def resolve_dispute(
    uow: UnitOfWork, dispute_id: int, state: DisputeState, note: str, clock: Clock
) -> dict[str, object]:
    """Release a dispute (bill the engine's figures) or mark it corrected (a correction was imported)."""
    row = uow.session.get(UsageDisputeRow, dispute_id)
    if row is None:
        raise NotFoundError(f"no dispute {dispute_id}", field="dispute")
    if row.state != DisputeState.OPEN.value:
        raise ConflictError(f"dispute {dispute_id} is already {row.state}", field="state")
    if state is DisputeState.OPEN:
        raise ValidationError("resolve a dispute as released or corrected", field="state")
    row.state, row.note, row.resolved_at = state.value, note, clock.now()
    uow.session.flush()
    return _dispute_dict(row)


__all__ = ["list_disputes", "observed_runs", "reconcile_month", "resolve_dispute"]
