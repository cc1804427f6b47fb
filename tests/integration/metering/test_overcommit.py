"""The over-commit sweep against a brute-force count (Hypothesis), on SQLite and PostgreSQL: a pool is
refused exactly when, at some instant, its usage in force takes more cards than it has."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from tests.integration.metering.test_crash import _seed, fresh
from zhisuan.core.clock import UTC
from zhisuan.core.errors import ValidationError
from zhisuan.metering.model import UsageRecord
from zhisuan.metering.overcommit import over_committed, row_events
from zhisuan.metering.usage import _write_rows, record_row, store_rows
from zhisuan.store.models.metering import UsageRecordRow
from zhisuan.store.uow import UnitOfWork

__all__ = ["fresh"]  # the fixture: a database of its own per backend

CARDS = 800  # the seeded pool: 100 nodes × 8 cards
BASE = dt.datetime(2025, 6, 2, tzinfo=UTC)
_LAST = select(func.coalesce(func.max(UsageRecordRow.id), 0))

# (start hour, hours, cards, reversed?) per record; the first `stored` are written before the rest
jobs = st.lists(
    st.tuples(st.integers(0, 20), st.integers(1, 6), st.integers(1, 450), st.booleans()),
    min_size=1,
    max_size=10,
)


def _record(i: int, start_h: int, hours: int, cards: int) -> UsageRecord:
    start = BASE + dt.timedelta(hours=start_h)
    return UsageRecord(
        "sim", f"j{i}", 2, 1, 1, "a100-sxm4-80gb", cards, start, start + dt.timedelta(hours=hours), 1234
    )


def _peak(live: list[tuple[int, int, int]]) -> int:
    """The most cards busy at once, counted hour by hour."""
    return max((sum(c for s, h, c in live if s <= t < s + h) for t in range(27)), default=0)


def test_the_sweep_refuses_exactly_the_over_committed_pools(fresh: tuple[str, Engine]) -> None:
    _url, engine = fresh
    _seed(engine)

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(jobs, st.integers(0, 10))
    def check(spec: list[tuple[int, int, int, bool]], stored: int) -> None:
        records = [_record(i, s, h, c) for i, (s, h, c, _r) in enumerate(spec)]
        reversals = [r.reversal() for r, (*_x, rev) in zip(records, spec, strict=True) if rev]
        rows = [record_row(r) for r in [*records, *reversals]]
        live = [(s, h, c) for s, h, c, rev in spec if not rev]
        with UnitOfWork.for_engine(engine) as uow:
            _write_rows(uow, rows[:stored])
            before = int(uow.session.execute(_LAST).scalar_one())  # what an import would start after
            _write_rows(uow, rows[stored:])
            found = over_committed(uow.session, before)
            kept = over_committed(uow.session, before, row_events(rows[stored:]))  # as an import calls it
            uow.rollback()
        assert (found is None) == (kept is None) and (found is None or found.at == kept.at)  # type: ignore[union-attr]
        if stored >= len(records):
            assert found is None  # only reversals written: nothing to check
            return
        # the sweep looks at the span of the new usage; over it the brute force must agree
        span = [(s, h) for i, (s, h, _c, _r) in enumerate(spec) if i >= stored]
        lo, hi = min(s for s, _h in span), max(s + h for s, h in span)
        peak = max(
            (sum(c for s, h, c in live if s <= t < s + h) for t in range(lo, hi)),
            default=0,
        )
        assert (found is not None) == (peak > CARDS), (spec, stored, peak, found)
        if found is not None:
            assert found.busy > CARDS == found.cards and found.busy <= _peak(live)

    check()


def test_batches_stored_one_after_another_are_swept_together(fresh: tuple[str, Engine]) -> None:
    """``store_rows`` remembers what earlier calls of its transaction wrote: a second batch that fills
    the pool together with the first is refused; one that fits is stored."""
    _url, engine = fresh
    _seed(engine)
    first = [record_row(_record(i, 0, 4, 100)) for i in range(6)]  # 600 of 800 cards, hours 0-4
    fits = [record_row(_record(10, 4, 2, 800))]  # the pool is free again from hour 4
    over = [record_row(_record(20 + i, 2, 1, 100)) for i in range(3)]  # 600 + 300 at hour 2
    with UnitOfWork.for_engine(engine) as uow:
        assert store_rows(uow, first) == 6
        assert store_rows(uow, fits) == 1
        with pytest.raises(ValidationError, match="would take 900"):
            store_rows(uow, over)
        uow.rollback()
