"""Collecting compute's finished runs: each run is read once, from a stored cursor, and billed once."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, func, select

from tests.factories.metering import center, finish, job_run, org, row, usage_file
from zhisuan import metering
from zhisuan.core.clock import UTC, Month
from zhisuan.metering import collect
from zhisuan.policy import load_pack_set
from zhisuan.store.models.metering import MeteringCursorRow, UsageRecordRow

PACKS = load_pack_set()  # the shipped packs
T0 = dt.datetime(2025, 6, 3, 1, tzinfo=UTC)  # 09:00 in Shanghai
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def user(db) -> int:  # type: ignore[no-untyped-def]
    """User U on center 1 (pool 10 at 10 yuan per card-hour, run by operator OP)."""
    with db.uow() as uow:
        op = org(uow, "operator")
        u = org(uow, "user U")
        center(uow, 1, op, 10, 1000)
        uow.commit()
    return u


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ids of the run records collection reads from compute's feed, in order."""
    seen: list[int] = []
    feed = collect.finished_runs

    def counting(uow, *, after_id=0, limit=1000):  # type: ignore[no-untyped-def]
        got = feed(uow, after_id=after_id, limit=limit)
        seen.extend(r.run_id for r in got)
        return got

    monkeypatch.setattr(collect, "finished_runs", counting)
    return seen


def _collect(db, month: Month | None = None) -> metering.ImportResult:  # type: ignore[no-untyped-def]
    with db.uow() as uow:
        got = metering.collect_runs(uow, PACKS, month)
        uow.commit()
    return got


def _usage_count(db) -> int:  # type: ignore[no-untyped-def]
    with db.uow() as uow:
        return int(uow.session.execute(select(func.count()).select_from(UsageRecordRow)).scalar_one())


def test_collecting_twice_reads_only_the_runs_finished_since(db, user, reads) -> None:  # type: ignore[no-untyped-def]
    with db.uow() as uow:
        first = [job_run(uow, user, T0 + i * HOUR, T0 + (i + 2) * HOUR) for i in range(3)]
        uow.commit()
    got = _collect(db)
    assert (got.rows, got.records, got.inserted) == (3, 3, 3)
    assert reads == first
    reads.clear()
    assert _collect(db) == metering.ImportResult(0, 0, 0)
    assert reads == []  # nothing new: no run is read again
    with db.uow() as uow:
        later = job_run(uow, user, T0 + 5 * HOUR, T0 + 6 * HOUR)
        uow.commit()
    got = _collect(db)
    assert (got.rows, got.inserted) == (1, 1)
    assert reads == [later]
    assert _usage_count(db) == 4


def test_a_run_still_running_holds_the_cursor_until_it_ends(db, user, reads) -> None:  # type: ignore[no-untyped-def]
    with db.uow() as uow:
        long = job_run(uow, user, T0, None)  # a lower id that ends after the next one
        short = job_run(uow, user, T0, T0 + HOUR)
        uow.commit()
    assert _collect(db).inserted == 1
    with db.uow() as uow:
        finish(uow, long, T0 + 8 * HOUR)
        uow.commit()
    reads.clear()
    got = _collect(db)
    assert got.inserted == 1  # the long run; the short one, read again, is not stored twice
    assert reads == [long, short]
    reads.clear()
    assert _collect(db).rows == 0
    assert reads == []
    assert _usage_count(db) == 2


def test_a_lost_cursor_bills_no_run_twice(db, user) -> None:  # type: ignore[no-untyped-def]
    with db.uow() as uow:
        for i in range(2):
            job_run(uow, user, T0 + i * HOUR, T0 + (i + 3) * HOUR)
        uow.commit()
    assert _collect(db).inserted == 2
    with db.uow() as uow:
        uow.session.execute(delete(MeteringCursorRow))
        uow.commit()
    again = _collect(db)
    assert (again.rows, again.records, again.inserted) == (2, 2, 0)
    assert _usage_count(db) == 2


def test_a_month_filter_leaves_the_other_runs_for_a_later_collection(db, user, reads) -> None:  # type: ignore[no-untyped-def]
    july = T0 + dt.timedelta(days=30)
    with db.uow() as uow:
        june_run = job_run(uow, user, T0, T0 + HOUR)
        july_run = job_run(uow, user, july, july + HOUR)
        uow.commit()
    got = _collect(db, Month(2025, 7))
    assert (got.rows, got.inserted) == (1, 1)
    reads.clear()
    got = _collect(db)
    assert (got.rows, got.inserted) == (2, 1)  # June now; July read again but already there
    assert reads == [june_run, july_run]
    reads.clear()
    assert _collect(db).rows == 0


def test_a_collected_run_is_the_record_its_usage_file_row_would_be(db, user, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Built from typed values, with no detour through text: the same key, figures and amount."""
    start = dt.datetime(2025, 6, 30, 12, tzinfo=UTC)  # 20:00 in Shanghai, until 04:00 on 1 July
    with db.uow() as uow:
        # engines report fractions of a second; usage is metered in whole seconds
        job_run(
            uow, user, start + dt.timedelta(microseconds=400_000), start + 8 * HOUR, 8, engine_job_id="sim-42"
        )
        uow.commit()
    got = _collect(db)
    assert got.records == 2  # split at the Shanghai month edge
    line = row("sim-42", user, start.isoformat(), (start + 8 * HOUR).isoformat(), cards=8)
    with db.uow() as uow:
        imported = metering.import_usage(uow, usage_file(tmp_path / "u.jsonl", [line]), PACKS)
        uow.commit()
    assert (imported.records, imported.inserted) == (2, 0)
