"""Row-level steps the compute service modules share: find a job, record its events and state changes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from zhisuan.compute.model import JobState, check_transition
from zhisuan.core.access import Kind, not_found
from zhisuan.core.ids import parse_id
from zhisuan.store.models.compute import JobEventRow, JobRow, JobRunRow
from zhisuan.store.uow import UnitOfWork


def _event(
    uow: UnitOfWork,
    row: JobRow,
    at: dt.datetime,
    old: str | None,
    new: str,
    actor: str,
    note: str = "",
    pool_id: int | None = None,
) -> None:
    uow.session.add(
        JobEventRow(
            job_id=row.id, at=at, from_state=old, to_state=new, pool_id=pool_id, actor=actor, note=note
        )
    )


def _transition(
    uow: UnitOfWork, row: JobRow, new: JobState, at: dt.datetime, actor: str, note: str = ""
) -> None:
    """Move a job to ``new`` if the compute core's transition table allows it, and record the event."""
    old = JobState(row.state)
    check_transition(old, new, retries_left=row.retries - max(0, row.attempts - 1))
    row.state = new.value
    row.updated_at = at
    _event(uow, row, at, old.value, new.value, actor, note, row.pool_id)


def _job_row(uow: UnitOfWork, job_id: int | str) -> JobRow:
    text = str(job_id).strip()
    row_id = parse_id(text)
    row = uow.session.get(JobRow, row_id) if row_id is not None else None
    if row is None:
        raise not_found(Kind.JOB)
    return row


def _open_run(uow: UnitOfWork, row: JobRow) -> JobRunRow | None:
    return uow.session.execute(
        select(JobRunRow).where(JobRunRow.job_id == row.id, JobRunRow.attempt == row.attempts)
    ).scalar()


__all__ = []
