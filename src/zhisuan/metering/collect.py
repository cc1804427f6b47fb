"""The feed from compute: finished job runs become usage records, each run read once.

A stored cursor (``metering_cursors``) keeps the highest run id below which every run has been turned
into usage. Collecting reads compute's typed run records after it, builds raw usage from their typed
values, prices and stores the pieces, and moves the cursor in the same unit of work. The cursor never
passes a run that is still running (runs end out of id order) nor one a month filter skipped, so no
run is lost; usage keys keep a run from being billed twice even when runs are read again.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from zhisuan.compute.feed import RunRecord, finished_runs, first_open_run
from zhisuan.core.clock import Month
from zhisuan.core.errors import ValidationError, ZhisuanError
from zhisuan.metering.model import RawUsage, UsageRecord, split_usage
from zhisuan.metering.rates import policy_edges, rate_card
from zhisuan.metering.usage import ImportResult, store_records
from zhisuan.policy import PackSet
from zhisuan.store.models.metering import MeteringCursorRow
from zhisuan.store.uow import UnitOfWork

FEED = "finished_runs"
_PAGE = 5000


def raw_usage(run: RunRecord) -> RawUsage | None:
    """A finished run as raw usage in whole seconds, or ``None`` when less than a second is left."""
    start = run.start.astimezone(dt.UTC).replace(microsecond=0)
    end = run.end.astimezone(dt.UTC).replace(microsecond=0)
    if end <= start:
        return None
    return RawUsage(
        engine=run.engine,
        engine_job_id=run.engine_job_id,
        org_id=run.org_id,
        center_id=run.center_id,
        pool_id=run.pool_id,
        accelerator=run.accelerator,
        cards=run.cards,
        start=start,
        end=end,
    )


def _touches(raw: RawUsage, month: Month | None) -> bool:
    return month is None or (raw.end > month.start and raw.start < month.end)


def collect_runs(uow: UnitOfWork, packs: PackSet, month: Month | None = None) -> ImportResult:
    """Turn the runs finished since the last collection into usage records (only runs touching ``month``).

    ``rows`` counts the runs that became usage. Idempotent like an import: a run read again (after a
    run still running held the cursor back, or had the cursor been lost) adds nothing.
    """
    s = uow.session
    cursor = s.execute(
        select(MeteringCursorRow).where(MeteringCursorRow.name == FEED).with_for_update()
    ).scalar()
    if cursor is None:
        cursor = MeteringCursorRow(name=FEED, position=0)
        s.add(cursor)
    # read before the feed: every run below the first one still open has ended and is in the feed
    first_open = first_open_run(uow, after_id=cursor.position)
    limit = first_open - 1 if first_open is not None else None
    card = rate_card(uow)
    edges = policy_edges(packs)
    runs = 0
    records: list[UsageRecord] = []
    after = cursor.position
    while batch := finished_runs(uow, after_id=after, limit=_PAGE):
        after = batch[-1].run_id
        for run in batch:
            try:
                raw = raw_usage(run)
                if raw is not None and not _touches(raw, month):
                    # left for a later collection: the cursor stays below it
                    limit = run.run_id - 1 if limit is None else min(limit, run.run_id - 1)
                    continue
                if raw is not None:
                    records.extend(split_usage(raw, card, edges))
                    runs += 1
            except ZhisuanError as exc:
                # as a usage file would report it, the run id standing for the line
                raise ValidationError(
                    exc.message, row=run.run_id, column=exc.column or exc.field or "pool_id"
                ) from None
    inserted = store_records(uow, records)
    cursor.position = after if limit is None else min(after, limit)
    s.flush()
    return ImportResult(runs, len(records), inserted)


__all__ = ["FEED", "collect_runs", "raw_usage"]
