# ruff: noqa: S608  -- SQL text is built only from our own table/column names and constant fragments; every value is a bound parameter
"""The over-commit sweep: usage may not put more cards on a pool than it has at any instant.

Every writer of usage records (:func:`~zhisuan.metering.usage.store_rows`, the import) asks
:func:`over_committed` after writing, in the same transaction; raising its :meth:`OverCommit.error`
aborts the unit of work, so nothing of the write stays.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from zhisuan.core.errors import ValidationError
from zhisuan.metering.model import UsageKind
from zhisuan.store.models.compute import PoolRow
from zhisuan.store.models.metering import UsageRecordRow
from zhisuan.store.types import UTCDateTime

_USAGE = UsageKind.USAGE.value


@dataclass(frozen=True, slots=True)
class OverCommit:
    """A moment at which a pool's usage takes more cards than it has, and a new record running then."""

    pool_id: int
    cards: int
    busy: int
    at: dt.datetime
    key: str
    engine: str
    engine_job_id: str

    def error(self, row: int | None = None) -> ValidationError:
        """The refusal, naming the line (or record) and its cards."""
        where = "" if row is not None else f"usage {self.key}: "
        return ValidationError(
            f"{where}pool {self.pool_id} has {self.cards} cards, but at {self.at.isoformat()} its usage "
            f"would take {self.busy} (job {self.engine}/{self.engine_job_id} among it): "
            "a pool cannot run more cards than it has",
            row=row,
            column="cards",
            field=None if row is not None else "cards",
        )


# The pools a write touched, with the span its new usage covers there.
_SPAN = (
    "SELECT pool_id, MIN(start_at), MAX(end_at) FROM usage_records "
    "WHERE id > :before AND kind = 'usage' GROUP BY pool_id ORDER BY pool_id"
)
_POOL, _START, _END, _CARDS, _KIND = 5, 8, 9, 7, 14  # positions in a stored row (RECORD_COLUMNS)

Events = npt.NDArray[np.int64]  # records as rows of (pool, start, end, cards; negative for a reversal)


def _seconds(values: Sequence[object]) -> npt.NDArray[np.int64]:
    """Timestamps as Unix seconds: SQLite's naive UTC text (parsed by numpy), aware datetimes, or
    PostgreSQL's ``EXTRACT(EPOCH …)`` already."""
    if values and isinstance(values[0], str):
        return np.array(values, dtype="datetime64[us]").astype("datetime64[s]").astype(np.int64)
    if values and isinstance(values[0], dt.datetime):
        return np.array([int(v.timestamp()) for v in values], dtype=np.int64)  # type: ignore[attr-defined]
    return np.array(values, dtype=np.int64)


def row_events(rows: Sequence[Sequence[object]]) -> Events:
    """Stored rows (``RECORD_COLUMNS`` order) as the sweep's records."""
    if not rows:
        return np.empty((0, 4), dtype=np.int64)
    return np.array(
        [
            (
                r[_POOL],
                int(r[_START].timestamp()),  # type: ignore[attr-defined]
                int(r[_END].timestamp()),  # type: ignore[attr-defined]
                r[_CARDS] if r[_KIND] == _USAGE else -r[_CARDS],  # type: ignore[operator]
            )
            for r in rows
        ],
        dtype=np.int64,
    )


def _spans(new: Events) -> tuple[list[int], Events, Events]:
    """The pools of the new usage (reversals aside) and, for each, the span it covers."""
    usage = new[new[:, 3] > 0]
    usage = usage[np.argsort(usage[:, 0], kind="stable")]
    cut = np.flatnonzero(np.diff(usage[:, 0])) + 1
    first = np.concatenate([[0], cut]).astype(np.int64)
    if not len(usage):
        return [], np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    lo = np.minimum.reduceat(usage[:, 1], first)
    hi = np.maximum.reduceat(usage[:, 2], first)
    return [int(p) for p in usage[first, 0]], lo, hi


def over_committed(s: Session, before: int, new: Events | None = None) -> OverCommit | None:
    """The first moment at which usage written after id ``before`` makes its pool run more cards than
    it has (stored usage overlapping it included), or None.

    ``new`` is what was written after ``before``, when the caller kept it (an import that stored every
    row it made): then only the older usage overlapping it is read, so an import into an empty period
    reads nothing back. Without it every record overlapping the new usage is read.

    A sweep over start (+cards) and end (-cards) events per pool (numpy: sorted by pool and instant,
    one running sum — each pool's events sum to zero, so the sum starts afresh at every pool — read
    after the last event of each instant, as intervals are half-open). A reversal cancels its record
    (-cards from its start, +cards at its end). Only instants inside the span of a pool's new usage
    count: an older over-commit elsewhere is not this write's.
    """
    if new is not None:
        pools, span_lo, span_hi = _spans(new)
    else:
        found = s.execute(text(_SPAN), {"before": before}).all()
        pools = [int(p) for p, _lo, _hi in found]
        span_lo, span_hi = _seconds([lo for _p, lo, _hi in found]), _seconds([hi for _p, _lo, hi in found])
    if not pools:
        return None
    postgres = s.get_bind().dialect.name == "postgresql"
    when = (
        "CAST(EXTRACT(EPOCH FROM start_at) AS BIGINT), CAST(EXTRACT(EPOCH FROM end_at) AS BIGINT)"
        if postgres
        else "start_at, end_at"
    )
    older = " AND id <= :before" if new is not None else ""
    stored = s.execute(
        text(
            f"SELECT pool_id, {when}, CASE WHEN kind = 'usage' THEN cards ELSE -cards END FROM usage_records "
            f"WHERE pool_id IN :pools AND start_at < :hi AND end_at > :lo{older}"
        ).bindparams(
            bindparam("pools", expanding=True),
            bindparam("lo", type_=UTCDateTime()),
            bindparam("hi", type_=UTCDateTime()),
        ),
        {
            "pools": pools,
            "lo": dt.datetime.fromtimestamp(int(span_lo.min()), dt.UTC),
            "hi": dt.datetime.fromtimestamp(int(span_hi.max()), dt.UTC),
            "before": before,
        },
    ).all()
    columns = list(zip(*stored, strict=True))  # a Row is a sequence; numpy would probe it as a mapping
    if columns:
        rec = np.column_stack(
            [
                np.array(columns[0], dtype=np.int64),
                _seconds(columns[1]),
                _seconds(columns[2]),
                np.array(columns[3]),
            ]
        ).astype(np.int64)
    else:
        rec = np.empty((0, 4), dtype=np.int64)
    if new is not None:
        rec = np.concatenate([rec, new])
    pool = np.concatenate([rec[:, 0], rec[:, 0]])
    at = np.concatenate([rec[:, 1], rec[:, 2]])
    order = np.lexsort((at, pool))
    pool, at = pool[order], at[order]
    busy = np.cumsum(np.concatenate([rec[:, 3], -rec[:, 3]])[order])
    last = np.ones(len(at), dtype=bool)  # the last event of each (pool, instant)
    last[:-1] = (pool[1:] != pool[:-1]) | (at[1:] != at[:-1])
    size = dict(
        s.execute(
            select(PoolRow.id, PoolRow.nodes * PoolRow.cards_per_node).where(PoolRow.id.in_(pools))
        ).all()
    )
    known = np.array(pools, dtype=np.int64)
    row = np.minimum(np.searchsorted(known, pool), len(known) - 1)
    touched = known[row] == pool  # a pool of older usage only (none here: all are the new usage's)
    limit = np.array([size.get(p, 0) for p in pools], dtype=np.int64)[row]
    inside = touched & (at >= span_lo[row]) & (at < span_hi[row])
    over = np.flatnonzero(last & inside & (busy > limit))
    if not len(over):
        return None
    first = over[np.argmin(at[over])]
    pool_id, instant = int(pool[first]), dt.datetime.fromtimestamp(int(at[first]), dt.UTC)
    t = UsageRecordRow
    running = s.execute(
        select(t.key, t.engine, t.engine_job_id)
        .where(
            t.id > before, t.kind == _USAGE, t.pool_id == pool_id, t.start_at <= instant, t.end_at > instant
        )
        .order_by(t.id.desc())
        .limit(1)
    ).first()
    key, engine, job = running if running is not None else ("?", "?", "?")
    return OverCommit(pool_id, int(limit[first]), int(busy[first]), instant, key, engine, job)


__all__ = ["Events", "OverCommit", "over_committed", "row_events"]
